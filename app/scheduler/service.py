"""The per-app scheduler service: the election and, while leading, APScheduler with the jobs."""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - import now: lazily in a thread at exit it fails
import contextlib
import datetime as dt
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, has_app_context
from prometheus_client import Gauge

from app.scheduler.election import (
    DEFAULT_ELECTION_INTERVAL,
    Elector,
    LeaderElection,
    elector_for,
    fence_seconds,
)
from app.scheduler.jobs import (
    _JOB_KWARGS,
    _TRIGGER_KWARGS,
    JOB_RUNS,
    JobRun,
    JobSpec,
    collect_plugin_jobs,
    core_jobs,
    execute,
)
from app.scheduler.participation import _in_gunicorn_arbiter, participation
from app.state import junction_state

log = logging.getLogger("app.scheduler")

DEFAULT_MISFIRE_GRACE = 30

LEADER = Gauge(
    "junction_scheduler_leader",
    "1 in the process that leads the scheduler (summed over live processes: leaders).",
    multiprocess_mode="livesum",
)


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
        self.app = app
        self.mode = mode
        self.reason = reason
        self.plugin_jobs: list[JobSpec] = []
        self.misfire_grace_time = misfire_grace_time or int(
            app.config.get("JUNCTION_SCHEDULER_MISFIRE_GRACE") or DEFAULT_MISFIRE_GRACE
        )
        interval = interval or float(
            app.config.get("JUNCTION_SCHEDULER_ELECTION_INTERVAL") or DEFAULT_ELECTION_INTERVAL
        )
        self._elector = elector
        self._interval = interval
        self.election: LeaderElection | None = None
        self.scheduler: Any = None
        # The jobs declared ``leader_only=False``: running from start() to stop(), whoever leads.
        self.local_scheduler: Any = None
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
            if self.local_scheduler is None:
                local = [spec for spec in self.jobs() if not spec.leader_only]
                if local:
                    self.local_scheduler = self._build_scheduler(local, guard=None)
                    self.local_scheduler.start()
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
        with self._lock:
            local, self.local_scheduler = self.local_scheduler, None
        if local is not None:
            with contextlib.suppress(Exception):
                local.shutdown(wait=wait)
        # Jobs stop while the lock is still held, so no new leader overlaps with them.
        self._stop_jobs(wait=wait)
        if election is not None:
            election.stop()

    def is_leader(self) -> bool:
        """Whether this process leads (and its scheduler runs the jobs): it holds the lock and
        confirmed it within the fence (a long job may ask this before each step)."""
        election = self.election
        return bool(election and election.running and self._guard() is None)

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
        if election is None or not election.fresh(fence_seconds(self._interval)):
            return "leadership not confirmed recently"
        return None

    def _start_jobs(self) -> None:
        specs = [spec for spec in self.jobs() if spec.leader_only]
        scheduler = self._build_scheduler(specs, guard=self._guard)
        scheduler.start()
        with self._lock:
            self.scheduler = scheduler
        LEADER.set(1)
        log.info("scheduler: leader (pid %s) running %d job(s)", os.getpid(), len(specs))

    def _build_scheduler(
        self, specs: list[JobSpec], guard: Callable[[], str | None] | None
    ) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(max_workers=8)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.misfire_grace_time,
            },
        )
        for spec in specs:
            trigger_kw = {k: v for k, v in spec.options.items() if k in _TRIGGER_KWARGS}
            job_kw = {
                k: v for k, v in spec.options.items() if k in _JOB_KWARGS - {"args", "kwargs"}
            }
            scheduler.add_job(
                functools.partial(execute, self.app, spec, guard),
                IntervalTrigger(seconds=spec.seconds, timezone=dt.UTC, **trigger_kw),
                id=spec.id,
                name=job_kw.pop("name", spec.id),
                replace_existing=True,
                **job_kw,
            )
        scheduler.add_listener(self._on_not_run, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        return scheduler

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
        """When each scheduled job runs next here (leader jobs: on the leader only)."""
        with self._lock:
            schedulers = [self.local_scheduler, self.scheduler]
        return {
            job.id: job.next_run_time
            for scheduler in schedulers
            if scheduler is not None
            for job in scheduler.get_jobs()
        }

    def after_fork_in_child(self) -> None:
        """Forked child: drop the parent's thread, lock and scheduler; join anew only when the
        parent was a gunicorn master that deferred participation to its workers."""
        with contextlib.suppress(Exception):
            self._lock = threading.RLock()
        self.scheduler = None
        self.local_scheduler = None  # its threads did not survive the fork
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


def stop_all(wait: bool = False) -> None:
    """Step down from leadership and stop the scheduler of every app in this process, and take
    no part in the election again (a gunicorn worker that is exiting: its ``worker_exit`` and
    ``worker_int`` hooks call this, so a standby takes over at once and no job is submitted
    while the interpreter shuts down)."""
    for service in list(_LIVE):
        with contextlib.suppress(Exception):
            service.armed_for_fork = False
            if service.election is not None and service.election.pid == os.getpid():
                service.stop(wait=wait)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(stop_all)


# -- public helpers ---------------------------------------------------------------------------


def get_service(app: Flask | None = None) -> SchedulerService:
    """The scheduler service of ``app`` (default: the current app)."""
    service = junction_state(app).service(SchedulerService)
    assert service is not None, "create_app() sets the scheduler service"
    return service


def is_leader(app: Flask | None = None) -> bool:
    """Whether this process leads the scheduler for ``app`` (default: the current app, or any
    app in this process outside an app context)."""
    if app is not None or has_app_context():
        service = junction_state(app).service(SchedulerService)
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
            "next_run_time": moment.isoformat() if (moment := upcoming.get(spec.id)) else None,
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
    mode = app.config.get("JUNCTION_SCHEDULER") or "auto"
    participate, reason = participation(mode)
    service = SchedulerService(app, mode, reason)
    junction_state(app).set_service(SchedulerService, service)
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
