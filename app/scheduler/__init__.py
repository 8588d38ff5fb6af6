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
``junction worker`` — and not in one-shot commands, shells, scripts or tests
(see :func:`participation`). See ``docs/scheduler.md``.

The package, one job per module: :mod:`~app.scheduler.jobs` (declarations, running one job),
:mod:`~app.scheduler.participation` (who joins the election),
:mod:`~app.scheduler.election` (lock backends and the election thread),
:mod:`~app.scheduler.service` (the per-app service) and :mod:`~app.scheduler.cli`.
"""

from app.scheduler.cli import register_cli
from app.scheduler.election import (
    ADVISORY_LOCK_KEY,
    DEFAULT_ELECTION_INTERVAL,
    LOCK_FILE_NAME,
    STALE_AFTER_INTERVALS,
    Elector,
    FileLockElector,
    LeaderElection,
    PgAdvisoryElector,
    elector_for,
)
from app.scheduler.jobs import (
    JOB_DURATION,
    JOB_RUNS,
    JobRegistry,
    JobRun,
    JobSpec,
    collect_plugin_jobs,
    core_jobs,
    execute,
    register_core_job,
    unregister_core_job,
)
from app.scheduler.participation import flask_cli_words, participation
from app.scheduler.service import (
    DEFAULT_MISFIRE_GRACE,
    LEADER,
    SchedulerService,
    get_service,
    init_app,
    is_leader,
    list_jobs,
    run_job_once,
)

__all__ = [
    "ADVISORY_LOCK_KEY",
    "DEFAULT_ELECTION_INTERVAL",
    "DEFAULT_MISFIRE_GRACE",
    "JOB_DURATION",
    "JOB_RUNS",
    "LEADER",
    "LOCK_FILE_NAME",
    "STALE_AFTER_INTERVALS",
    "Elector",
    "FileLockElector",
    "JobRegistry",
    "JobRun",
    "JobSpec",
    "LeaderElection",
    "PgAdvisoryElector",
    "SchedulerService",
    "collect_plugin_jobs",
    "core_jobs",
    "elector_for",
    "execute",
    "flask_cli_words",
    "get_service",
    "init_app",
    "is_leader",
    "list_jobs",
    "participation",
    "register_cli",
    "register_core_job",
    "run_job_once",
    "unregister_core_job",
]
