"""Job declarations and running one job: core jobs, plugin job registries, :func:`execute`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from prometheus_client import Counter, Histogram

log = logging.getLogger("app.scheduler")

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
    # False: the job runs in every participating process, leader or standby (work that must
    # not stop when the election does, such as claiming due operations).
    leader_only: bool = True

    def describe(self) -> str:
        """``module:qualname`` of the job's function, for listings."""
        module = getattr(self.func, "__module__", "?")
        name = getattr(self.func, "__qualname__", type(self.func).__name__)
        return f"{module}:{name}"


def _make_spec(
    func: Callable[..., Any],
    seconds: float,
    job_id: str,
    owner: str,
    kwargs: dict[str, Any],
    leader_only: bool = True,
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
    return JobSpec(
        id=job_id,
        func=func,
        seconds=float(seconds),
        owner=owner,
        options=kwargs,
        leader_only=bool(leader_only),
    )


_CORE_JOBS: dict[str, JobSpec] = {}
_CORE_JOBS_LOCK = threading.Lock()


def register_core_job(
    func: Callable[..., Any], *, seconds: float, id: str, leader_only: bool = True, **kw: Any
) -> None:
    """Declare a core job: ``func()`` every ``seconds`` on the leader, inside an app context.

    With ``leader_only=False`` it runs in every participating process instead, leader or
    standby, and without the leader's fence: for work that must go on while no process leads.

    Callable at import or ``init_app`` time; registering the same ``id`` again replaces the
    earlier declaration (apps are built many times in tests). ``kw`` may carry APScheduler
    options: ``misfire_grace_time``, ``coalesce``, ``max_instances``, ``next_run_time``,
    ``name``, ``args``, ``kwargs`` and the trigger's ``start_date``, ``end_date``, ``jitter``.
    """
    spec = _make_spec(func, seconds, id, "core", kw, leader_only)
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

    def add(
        self,
        func: Callable[..., Any],
        *,
        seconds: float,
        id: str,
        leader_only: bool = True,
        **kw: Any,
    ) -> str:
        """Declare ``func()`` every ``seconds``; returns the full id ``<plugin>.<id>``.

        Options (``leader_only`` too) are those of :func:`register_core_job`. A duplicate id
        raises ``ValueError`` (which, like any exception in the hook, marks the plugin failed).
        """
        full_id = f"{self.plugin}.{id}"
        if any(job.id == full_id for job in self.jobs):
            raise ValueError(f"duplicate job id {full_id!r}")
        self.jobs.append(_make_spec(func, seconds, full_id, self.plugin, kw, leader_only))
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
