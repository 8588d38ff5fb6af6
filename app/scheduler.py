"""Periodic jobs with a single leader: APScheduler 3 runs them in exactly one process.

Jobs are declared in code, never stored: core modules call :func:`register_core_job` (at import
or in their ``init_app``), plugins implement ``junction_jobs(scheduler)`` and get a
:class:`JobRegistry` whose ids are prefixed ``<plugin>.``. Every process that *participates*
runs a :class:`LeaderElection` thread; the one holding the lock — a PostgreSQL advisory lock on
a dedicated connection, or ``flock`` on ``<instance>/scheduler.lock`` on SQLite — starts a
``BackgroundScheduler`` with every job; the others stand by and retry about once a second.
Both locks die with their process (even on SIGKILL), so a standby takes over within seconds.

``JUNCTION_SCHEDULER``: ``off`` starts nothing; ``on`` always participates; ``auto``
participates when the process is a server — a gunicorn or uWSGI worker, ``flask run`` or
``flask junction worker`` — and not in one-shot commands, shells, scripts or tests
(see :func:`participation`). See ``docs/scheduler.md``.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - import now: lazily in a thread at exit it fails
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import logging
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import click
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

EXTENSION_KEY = "junction.scheduler"
LOCK_FILE_NAME = "scheduler.lock"
# One advisory lock per database: every Junction process on that database competes for it.
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"junction.scheduler.leader").digest()[:8], "big", signed=True
)
DEFAULT_ELECTION_INTERVAL = 1.0
DEFAULT_MISFIRE_GRACE = 30
# A leader whose lock was not confirmed for this long skips job runs (a stuck check must not
# leave two leaders running jobs side by side).
STALE_AFTER_INTERVALS = 10

JOB_RUNS = Counter(
    "junction_scheduler_job_runs",
    "Scheduled job runs by job id and outcome (success, error, missed, skipped).",
    ["job", "outcome"],
)
JOB_DURATION = Histogram(
    "junction_scheduler_job_duration_seconds",
    "Duration of scheduled job runs.",
    ["job"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
)
LEADER = Gauge(
    "junction_scheduler_leader",
    "1 in the process that leads the scheduler (summed over live processes: leaders).",
    multiprocess_mode="livesum",
)

# Keys an ``add``/``register_core_job`` call may pass through to APScheduler.
_TRIGGER_KWARGS = frozenset({"start_date", "end_date", "jitter"})
_JOB_KWARGS = frozenset(
    {"args", "kwargs", "name", "misfire_grace_time", "coalesce", "max_instances", "next_run_time"}
)


# -- job declarations -------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """One declared periodic job: ``func`` every ``seconds``, owned by ``core`` or a plugin."""

    id: str
    func: Callable[..., Any]
    seconds: float
    owner: str = "core"
    options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """``module:qualname`` of the job's function, for listings."""
        module = getattr(self.func, "__module__", "?")
        name = getattr(self.func, "__qualname__", type(self.func).__name__)
        return f"{module}:{name}"


def _make_spec(
    func: Callable[..., Any], seconds: float, job_id: str, owner: str, kwargs: dict[str, Any]
) -> JobSpec:
    if not callable(func):
        raise TypeError(f"job {job_id!r}: func must be callable")
    if not job_id or not isinstance(job_id, str):
        raise ValueError("a job needs a non-empty string id")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"job {job_id!r}: seconds must be a positive number, got {seconds!r}")
    unknown = set(kwargs) - _TRIGGER_KWARGS - _JOB_KWARGS
    if unknown:
        raise TypeError(f"job {job_id!r}: unsupported options {', '.join(sorted(unknown))}")
    return JobSpec(id=job_id, func=func, seconds=float(seconds), owner=owner, options=kwargs)


_CORE_JOBS: dict[str, JobSpec] = {}
_CORE_JOBS_LOCK = threading.Lock()


def register_core_job(func: Callable[..., Any], *, seconds: float, id: str, **kw: Any) -> None:
    """Declare a core job: ``func()`` every ``seconds`` on the leader, inside an app context.

    Callable at import or ``init_app`` time; registering the same ``id`` again replaces the
    earlier declaration (apps are built many times in tests). ``kw`` may carry APScheduler
    options: ``misfire_grace_time``, ``coalesce``, ``max_instances``, ``next_run_time``,
    ``name``, ``args``, ``kwargs`` and the trigger's ``start_date``, ``end_date``, ``jitter``.
    """
    spec = _make_spec(func, seconds, id, "core", kw)
    with _CORE_JOBS_LOCK:
        _CORE_JOBS[id] = spec


def unregister_core_job(id: str) -> None:
    """Forget core job ``id`` (tests; a module that stops offering a job)."""
    with _CORE_JOBS_LOCK:
        _CORE_JOBS.pop(id, None)


def core_jobs() -> list[JobSpec]:
    """The core jobs declared so far, in id order."""
    with _CORE_JOBS_LOCK:
        return [_CORE_JOBS[key] for key in sorted(_CORE_JOBS)]


class JobRegistry:
    """What a plugin's ``junction_jobs(scheduler)`` receives: collects that plugin's jobs."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.jobs: list[JobSpec] = []

    def add(self, func: Callable[..., Any], *, seconds: float, id: str, **kw: Any) -> str:
        """Declare ``func()`` every ``seconds``; returns the full id ``<plugin>.<id>``.

        Options are those of :func:`register_core_job`. A duplicate id raises ``ValueError``
        (which, like any exception in the hook, marks the plugin failed).
        """
        full_id = f"{self.plugin}.{id}"
        if any(job.id == full_id for job in self.jobs):
            raise ValueError(f"duplicate job id {full_id!r}")
        self.jobs.append(_make_spec(func, seconds, full_id, self.plugin, kw))
        return full_id


def collect_plugin_jobs(app: Flask) -> list[JobSpec]:
    """Ask every loaded plugin for its jobs, one :class:`JobRegistry` each.

    ``PluginRegistry.call_each`` passes the same arguments to every plugin, but each plugin
    needs its own registry (for the id prefix, and to drop a half-registered plugin's jobs),
    so this walks the hook implementations itself with the same isolation: a plugin whose hook
    raises is marked failed (``mark_failed``) and none of its jobs are kept.
    """
    plugins = app.extensions["junction"].registry
    caller = getattr(plugins.pm.hook, "junction_jobs", None)
    if caller is None:
        return []
    jobs: list[JobSpec] = []
    for impl in reversed(caller.get_hookimpls()):
        info = plugins.infos.get(impl.plugin_name)
        if info is None or info.status != "loaded":
            continue
        registry = JobRegistry(impl.plugin_name)
        try:
            impl.function(**{arg: registry for arg in impl.argnames if arg == "scheduler"})
        except Exception as exc:  # third-party code: isolate, as call_each does
            plugins.mark_failed(impl.plugin_name, exc, "junction_jobs")
            continue
        jobs.extend(registry.jobs)
    return jobs


# -- running one job --------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    """The result of one run: ``outcome`` is ``success``, ``error`` or ``skipped``."""

    job_id: str
    outcome: str
    duration: float
    error: str | None = None
    result: Any = None


def execute(app: Flask, spec: JobSpec, guard: Callable[[], str | None] | None = None) -> JobRun:
    """Run ``spec`` once inside an app context; log and count the run whatever happens.

    ``guard`` (the leader's fence) returns a reason to skip the run, or ``None``.
    """
    reason = guard() if guard is not None else None
    if reason is not None:
        JOB_RUNS.labels(spec.id, "skipped").inc()
        log.warning("job %s skipped: %s", spec.id, reason)
        return JobRun(spec.id, "skipped", 0.0, error=reason)
    started = time.perf_counter()
    error: str | None = None
    result: Any = None
    try:
        with app.app_context():
            result = spec.func(
                *spec.options.get("args", ()), **dict(spec.options.get("kwargs") or {})
            )
    except Exception as exc:  # a failing job is logged and counted, never fatal
        error = f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed after %.3fs", spec.id, time.perf_counter() - started)
    duration = time.perf_counter() - started
    outcome = "success" if error is None else "error"
    JOB_RUNS.labels(spec.id, outcome).inc()
    JOB_DURATION.labels(spec.id).observe(duration)
    if error is None:
        log.info("job %s succeeded in %.3fs", spec.id, duration)
    return JobRun(spec.id, outcome, duration, error=error, result=result)


# -- participation rule ------------------------------------------------------------------------

_FLASK_OPTIONS_WITH_VALUE = frozenset({"--app", "-A", "--env-file", "-e"})


def flask_cli_words(argv: Sequence[str]) -> list[str] | None:
    """The command words of a ``flask`` CLI invocation (``["junction", "worker"]``), or ``None``
    when ``argv`` is not the flask CLI."""
    if not argv:
        return None
    program = Path(argv[0])
    is_flask = program.name == "flask" or (
        program.name == "__main__.py" and program.parent.name == "flask"
    )
    if not is_flask:
        return None
    words: list[str] = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in _FLASK_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    return words


def _reloader_watcher(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    # ``flask run`` with the reloader loads the app in a watcher process that only restarts the
    # real server (WERKZEUG_RUN_MAIN=true); the watcher must not lead.
    if environ.get("WERKZEUG_RUN_MAIN") == "true" or "--no-reload" in argv:
        return False
    debug = environ.get("FLASK_DEBUG", "").lower() in {"1", "true", "yes", "on"}
    return "--reload" in argv or "--debug" in argv or (debug and "--no-debug" not in argv)


def participation(
    mode: str,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    modules: Mapping[str, Any] | None = None,
) -> tuple[bool, str]:
    """Whether this process takes part in the election under ``mode``, and why.

    ``auto`` participates in servers only: gunicorn and uWSGI workers, ``flask run`` (not its
    reloader watcher) and ``flask junction worker``; never in other ``flask`` commands (``db
    upgrade``, ``jobs run``...), shells, scripts or test processes.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if mode == "off":
        return False, "off"
    if mode == "on":
        return True, "on"
    words = flask_cli_words(argv)
    if words is not None:
        if words[:1] == ["run"]:
            if _reloader_watcher(argv, environ):
                return False, "flask run reloader watcher"
            return True, "flask run"
        if words[:2] == ["junction", "worker"]:
            return True, "flask junction worker"
        return False, f"flask {' '.join(words[:3])}".rstrip()
    if "gunicorn.arbiter" in modules:
        return True, "gunicorn"
    if "uwsgi" in modules:
        return True, "uwsgi"
    return False, "not a server process (set JUNCTION_SCHEDULER=on to participate)"


def _in_gunicorn_arbiter() -> bool:
    """Whether the app is being loaded by gunicorn's master (``--preload``), not a worker."""
    if "gunicorn.arbiter" not in sys.modules:
        return False
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

    frame = sys._getframe(1)
    seen_arbiter = False
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Worker):
            return False
        seen_arbiter = seen_arbiter or isinstance(owner, Arbiter)
        frame = frame.f_back
    return seen_arbiter


# -- lock backends ----------------------------------------------------------------------------


class Elector(Protocol):
    """A lock that at most one process holds: try to take it, check it, give it back."""

    def try_acquire(self) -> bool:
        """Take the lock if free; ``True`` when this elector now holds it."""

    def confirm(self) -> bool:
        """Whether the lock held is still held (cheap; raising counts as lost)."""

    def release(self) -> None:
        """Give the lock back (idempotent)."""

    def abandon(self) -> None:
        """Forget the lock without touching it (in a forked child: the parent owns it)."""

    def describe(self) -> str:
        """Short name of the backend for logs and ``/readyz``."""


class FileLockElector:
    """``flock(LOCK_EX | LOCK_NB)`` on a file in the instance folder (one host, e.g. SQLite).

    The kernel drops the lock when the holder's descriptor is closed, including when the
    process dies. Two electors in one process compete too (separate open file descriptions).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._orphans: list[int] = []

    def try_acquire(self) -> bool:
        """Open and lock the file without blocking; write our pid into it for operators."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return True

    def confirm(self) -> bool:
        """Still the same file on disk: a deleted or replaced lock file could be locked anew
        by someone else, so losing the path counts as losing the lock."""
        if self._fd is None:
            return False
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Unlock and close."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def abandon(self) -> None:
        """Keep the inherited descriptor open and unused: unlocking it would unlock the
        parent's lock (flock locks belong to the shared open file description)."""
        if self._fd is not None:
            self._orphans.append(self._fd)
        self._fd = None

    def describe(self) -> str:
        """``file lock``."""
        return "file lock"


class PgAdvisoryElector:
    """``pg_try_advisory_lock`` on a dedicated connection (not from the pool).

    The lock is the session's, so the server drops it when the connection ends — when the
    process dies or the network drops it. :meth:`confirm` runs ``SELECT 1`` each tick; TCP
    keepalives and ``tcp_user_timeout`` make a dead link fail that query within seconds.
    """

    def __init__(self, conninfo: str, key: int = ADVISORY_LOCK_KEY) -> None:
        self.conninfo = conninfo
        self.key = key
        self._conn: Any = None
        self._orphans: list[Any] = []

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name="junction-scheduler",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=10000,
        )

    def try_acquire(self) -> bool:
        """Connect when needed and try the lock; a failed connection is dropped for a retry."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        try:
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except Exception:
            self._close()
            raise
        return bool(row and row[0])

    def confirm(self) -> bool:
        """A cheap round trip on the lock's connection; any failure means the lock is gone."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1").fetchone()
        except Exception:
            self._close()
            return False
        return True

    def release(self) -> None:
        """Unlock and close the connection (closing alone would release it too)."""
        if self._conn is not None and not self._conn.closed:
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def abandon(self) -> None:
        """Keep the inherited connection object alive and unused: closing it in a forked
        child would end the parent's session and with it the parent's lock."""
        if self._conn is not None:
            self._orphans.append(self._conn)
        self._conn = None

    def describe(self) -> str:
        """``advisory lock``."""
        return "advisory lock"


def elector_for(app: Flask) -> Elector:
    """The lock backend for ``app``'s database: advisory lock on PostgreSQL, else a file lock."""
    import sqlalchemy as sa

    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PgAdvisoryElector(conninfo)
    return FileLockElector(Path(app.instance_path) / LOCK_FILE_NAME)


# -- leader election --------------------------------------------------------------------------


class LeaderElection:
    """A daemon thread that keeps trying to lead and calls back when leadership changes.

    A standby calls ``try_acquire`` every ``interval`` seconds; the leader calls ``confirm``
    at the same pace and steps down (``on_deposed``) when it fails or raises.
    """

    def __init__(
        self,
        elector: Elector,
        on_elected: Callable[[], None] = lambda: None,
        on_deposed: Callable[[], None] = lambda: None,
        interval: float = DEFAULT_ELECTION_INTERVAL,
        name: str = "junction-scheduler-election",
    ) -> None:
        self.elector = elector
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.interval = interval
        self.name = name
        self.leading = False
        self.last_error: str | None = None
        self.confirmed_at = 0.0  # time.monotonic() of the last successful acquire/confirm
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the election thread is alive in this process."""
        return self._thread is not None and self._thread.is_alive() and self.pid == os.getpid()

    def start(self) -> None:
        """Start the election thread (idempotent)."""
        if self.running:
            return
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def halt(self, timeout: float = 10.0) -> None:
        """Stop the election thread, keeping the lock and the role as they are."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, step down and release the lock."""
        self.halt(timeout)
        if self.leading:
            self._step_down("stopping")
        with contextlib.suppress(Exception):
            self.elector.release()

    def fresh(self, stale_after: float) -> bool:
        """Whether leadership was confirmed within ``stale_after`` seconds."""
        return self.leading and time.monotonic() - self.confirmed_at <= stale_after

    def tick(self) -> None:
        """One election round (the thread calls this; tests may too)."""
        try:
            if self.leading:
                if self.elector.confirm():
                    self.confirmed_at = time.monotonic()
                else:
                    self._step_down("lock lost")
            elif self.elector.try_acquire():
                self.leading = True
                self.confirmed_at = time.monotonic()
                self.last_error = None
                try:
                    self.on_elected()
                except Exception:
                    log.exception("scheduler: starting as leader failed; stepping down")
                    self._step_down("start failed")
                    return
            self.last_error = None
        except Exception as exc:  # backend unreachable: stay (or become) standby, retry
            self.last_error = type(exc).__name__
            log.warning("scheduler election: %s unavailable: %s", self.elector.describe(), exc)
            if self.leading:
                self._step_down("lock check failed")

    def _step_down(self, reason: str) -> None:
        self.leading = False
        level = logging.INFO if reason == "stopping" else logging.WARNING
        log.log(level, "scheduler: no longer leader (pid %s): %s", os.getpid(), reason)
        try:
            self.on_deposed()  # stop the jobs before a successor can take the lock
        except Exception:
            log.exception("scheduler: stopping the jobs failed")
        with contextlib.suppress(Exception):
            self.elector.release()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def abandon_after_fork(self) -> None:
        """In a forked child: the thread is gone and the lock is the parent's; forget both."""
        self.elector.abandon()
        self.leading = False
        self._thread = None
        self._stop = threading.Event()


# -- the per-app service ----------------------------------------------------------------------


class SchedulerService:
    """Ties an app to its election and, while leading, to a running ``BackgroundScheduler``."""

    def __init__(
        self,
        app: Flask,
        mode: str,
        reason: str,
        elector: Elector | None = None,
        interval: float | None = None,
        misfire_grace_time: int | None = None,
    ) -> None:
        config = app.extensions["junction"].config
        self.app = app
        self.mode = mode
        self.reason = reason
        self.plugin_jobs: list[JobSpec] = []
        self.misfire_grace_time = misfire_grace_time or int(
            config.get("SCHEDULER_MISFIRE_GRACE") or DEFAULT_MISFIRE_GRACE
        )
        interval = interval or float(
            config.get("SCHEDULER_ELECTION_INTERVAL") or DEFAULT_ELECTION_INTERVAL
        )
        self._elector = elector
        self._interval = interval
        self.election: LeaderElection | None = None
        self.scheduler: Any = None
        self.armed_for_fork = False
        self._lock = threading.RLock()

    # participation
    def start(self) -> None:
        """Join the election in this process (idempotent)."""
        with self._lock:
            if self.election is not None and self.election.running:
                return
            if self.election is None:
                self.election = LeaderElection(
                    self._elector or elector_for(self.app),
                    on_elected=self._start_jobs,
                    on_deposed=self._stop_jobs,
                    interval=self._interval,
                )
            self.election.start()
            self.armed_for_fork = False
        _LIVE.add(self)
        log.info(
            "scheduler: joining the election (pid %s, %s, %s)",
            os.getpid(),
            self.election.elector.describe(),
            self.reason,
        )

    def stop(self, wait: bool = False) -> None:
        """Leave the election; with ``wait`` let running jobs finish first."""
        with self._lock:
            election = self.election
        if election is not None:
            election.halt()
        # Jobs stop while the lock is still held, so no new leader overlaps with them.
        self._stop_jobs(wait=wait)
        if election is not None:
            election.stop()

    def is_leader(self) -> bool:
        """Whether this process leads (and its scheduler runs the jobs)."""
        return bool(self.election and self.election.running and self.election.leading)

    def role(self) -> str:
        """``leader (pid N)``, ``standby (pid N)``, ``off`` or ``not participating (...)``."""
        if self.mode == "off":
            return "off"
        election = self.election
        if election is None or not election.running:
            return f"not participating ({self.reason})"
        if election.leading:
            return f"leader (pid {os.getpid()})"
        detail = f"; {election.elector.describe()}: {election.last_error}"
        return f"standby (pid {os.getpid()}{detail if election.last_error else ''})"

    # jobs
    def jobs(self) -> list[JobSpec]:
        """Core jobs then plugin jobs; a plugin job whose id a core job took is dropped."""
        specs = {spec.id: spec for spec in core_jobs()}
        for spec in self.plugin_jobs:
            if spec.id in specs:
                log.error("scheduler: job id %s is taken by a core job; skipped", spec.id)
                continue
            specs[spec.id] = spec
        return list(specs.values())

    def _guard(self) -> str | None:
        election = self.election
        stale_after = self._interval * STALE_AFTER_INTERVALS + 5
        if election is None or not election.fresh(stale_after):
            return "leadership not confirmed recently"
        return None

    def _start_jobs(self) -> None:
        scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(max_workers=8)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.misfire_grace_time,
            },
        )
        specs = self.jobs()
        for spec in specs:
            trigger_kw = {k: v for k, v in spec.options.items() if k in _TRIGGER_KWARGS}
            job_kw = {
                k: v for k, v in spec.options.items() if k in _JOB_KWARGS - {"args", "kwargs"}
            }
            scheduler.add_job(
                functools.partial(execute, self.app, spec, self._guard),
                IntervalTrigger(seconds=spec.seconds, timezone=dt.UTC, **trigger_kw),
                id=spec.id,
                name=job_kw.pop("name", spec.id),
                replace_existing=True,
                **job_kw,
            )
        scheduler.add_listener(self._on_not_run, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        scheduler.start()
        with self._lock:
            self.scheduler = scheduler
        LEADER.set(1)
        log.info("scheduler: leader (pid %s) running %d job(s)", os.getpid(), len(specs))

    def _stop_jobs(self, wait: bool = False) -> None:
        with self._lock:
            scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            LEADER.set(0)
            with contextlib.suppress(Exception):
                scheduler.shutdown(wait=wait)

    @staticmethod
    def _on_not_run(event: Any) -> None:
        outcome = "missed" if event.code == EVENT_JOB_MISSED else "skipped"
        JOB_RUNS.labels(event.job_id, outcome).inc()
        log.warning("job %s %s (previous run still going or too late)", event.job_id, outcome)

    def next_run_times(self) -> dict[str, dt.datetime | None]:
        """When each scheduled job runs next (leader only; empty elsewhere)."""
        with self._lock:
            scheduler = self.scheduler
        if scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in scheduler.get_jobs()}

    def after_fork_in_child(self) -> None:
        """Forked child: drop the parent's thread, lock and scheduler; join anew only when the
        parent was a gunicorn master that deferred participation to its workers."""
        with contextlib.suppress(Exception):
            self._lock = threading.RLock()
        self.scheduler = None
        if self.election is not None:
            self.election.abandon_after_fork()
        if self.armed_for_fork:
            self.election = None
            self.start()


_LIVE: weakref.WeakSet[SchedulerService] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for service in list(_LIVE):
        try:
            service.after_fork_in_child()
        except Exception:
            log.exception("scheduler: after-fork reset failed")


def _stop_all_at_exit() -> None:
    for service in list(_LIVE):
        with contextlib.suppress(Exception):
            if service.election is not None and service.election.pid == os.getpid():
                service.stop()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_stop_all_at_exit)


# -- public helpers ---------------------------------------------------------------------------


def get_service(app: Flask | None = None) -> SchedulerService:
    """The scheduler service of ``app`` (default: the current app)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions[EXTENSION_KEY]


def is_leader(app: Flask | None = None) -> bool:
    """Whether this process leads the scheduler for ``app`` (default: the current app, or any
    app in this process outside an app context)."""
    if app is not None or has_app_context():
        service = (app or current_app).extensions.get(EXTENSION_KEY)
        return bool(service and service.is_leader())
    return any(service.is_leader() for service in list(_LIVE))


def list_jobs(app: Flask) -> list[dict[str, Any]]:
    """Every declared job of ``app``: id, owner, interval, function and next run (leader)."""
    service = get_service(app)
    upcoming = service.next_run_times()
    return [
        {
            "id": spec.id,
            "owner": spec.owner,
            "seconds": spec.seconds,
            "func": spec.describe(),
            "next_run_time": upcoming[spec.id].isoformat() if upcoming.get(spec.id) else None,
        }
        for spec in service.jobs()
    ]


def run_job_once(app: Flask, job_id: str) -> JobRun:
    """Run job ``job_id`` now in this process (logged and counted like a scheduled run)."""
    for spec in get_service(app).jobs():
        if spec.id == job_id:
            return execute(app, spec)
    raise KeyError(f"no job {job_id!r}")


def init_app(app: Flask) -> None:
    """Collect the plugins' jobs, add the ``/readyz`` check and, when this process
    participates (see :func:`participation`), join the leader election.

    Under gunicorn with ``--preload`` the app is built in the master: participation is then
    deferred to each worker after fork, so the master never holds the lock or runs jobs.
    """
    mode = app.extensions["junction"].config.get("SCHEDULER") or "auto"
    participate, reason = participation(mode)
    service = SchedulerService(app, mode, reason)
    app.extensions[EXTENSION_KEY] = service
    service.plugin_jobs = collect_plugin_jobs(app)
    app.extensions["junction"].core_checks["scheduler"] = service.role
    if not participate:
        return
    if _in_gunicorn_arbiter():
        service.armed_for_fork = True
        _LIVE.add(service)
        log.info("scheduler: gunicorn master; each worker joins the election after fork")
        return
    service.start()


# -- CLI ---------------------------------------------------------------------------------------


def register_cli(group: click.Group) -> None:
    """Add ``jobs`` (list / run one) and ``worker`` to the ``flask junction`` group."""

    @group.group("jobs", invoke_without_command=True)
    @click.pass_context
    @with_appcontext  # AppGroup wraps commands, not a group's own callback
    def jobs_group(ctx: click.Context) -> None:
        """List the declared jobs (``jobs run ID`` runs one now)."""
        if ctx.invoked_subcommand is None:
            _print_jobs()

    @jobs_group.command("list")
    def jobs_list() -> None:
        """List the declared jobs."""
        _print_jobs()

    @jobs_group.command("run")
    @click.argument("job_id")
    def jobs_run(job_id: str) -> None:
        """Run one job now in this process, whatever the leader does."""
        try:
            run = run_job_once(current_app._get_current_object(), job_id)  # type: ignore[attr-defined]
        except KeyError as exc:
            raise click.ClickException(f"no job {job_id!r} (see `flask junction jobs`)") from exc
        click.echo(f"{run.job_id}: {run.outcome} in {run.duration:.3f}s")
        if run.error:
            click.echo(f"error: {run.error}", err=True)
            sys.exit(1)

    @group.command("worker")
    def worker_command() -> None:
        """Run a dedicated scheduler process: join the election, lead or stand by, until
        SIGTERM or SIGINT."""
        service = get_service()
        if service.mode == "off":
            raise click.ClickException("JUNCTION_SCHEDULER=off: nothing to run")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        service.start()
        click.echo(f"scheduler worker pid {os.getpid()}: {len(service.jobs())} job(s) declared")
        while not stop.wait(0.5):
            pass
        click.echo("scheduler worker stopping")
        service.stop(wait=True)


def _print_jobs() -> None:
    items = list_jobs(current_app._get_current_object())  # type: ignore[attr-defined]
    if not items:
        click.echo("no jobs declared")
    for item in items:
        click.echo(
            f"{item['id']:<32} every {item['seconds']:>8g}s  {item['owner']:<12} {item['func']}"
        )
