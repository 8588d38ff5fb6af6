"""What the core panels show, read from the core's tables and services (no Flask requests here).

Everything is read-only: the console's buttons call the same services as the API
(:mod:`app.operations.service`), never write tables themselves.
"""

from __future__ import annotations

import datetime as dt
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.db import db, utcnow
from app.domain.models import Feature, Project, TestRun
from app.events.log import Event, head_id
from app.operations.models import FAILED, STATUSES, UNFINISHED, Operation
from app.scheduler.service import SchedulerService
from app.state import junction_state

RECENT = 20
EVENT_TAIL = 50
CHART_HOURS = 24
CHART_ROWS = 5000


def version() -> str:
    """Junction's version (the installed distribution's)."""
    try:
        return metadata.version("junction")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


# -- overview -----------------------------------------------------------------------------------


def health() -> dict[str, Any]:
    """The ``/readyz`` checks with their details, as an operator sees them."""
    from app.observability import run_checks

    ok, results = run_checks(junction_state().ready_checks())
    return {"ok": ok, "checks": results}


def plugins() -> list[dict[str, Any]]:
    """Every discovered plugin: name, version, status and error."""
    return junction_state().registry.as_list()


def scheduler() -> dict[str, Any]:
    """This process's scheduler role and who leads the deployment, as far as can be seen."""
    service = junction_state().service(SchedulerService)
    role = service.role() if service is not None else "off"
    return {"role": role, "pid": os.getpid(), "leader": leader()}


def leader() -> str:
    """Who holds the scheduler lock: a pid (file lock) or a database session (advisory lock)."""
    from app.scheduler.election import ADVISORY_LOCK_KEY, LOCK_FILE_NAME

    try:
        if db.engine.dialect.name == "postgresql":
            key = ADVISORY_LOCK_KEY & 0xFFFFFFFFFFFFFFFF
            row = db.session.execute(
                sa.text(
                    "SELECT a.client_addr, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.granted AND l.classid::bigint = :high AND l.objid::bigint = :low"
                ),
                {"high": key >> 32, "low": key & 0xFFFFFFFF},
            ).first()
            if row is None:
                return "no leader (no process holds the advisory lock)"
            since = row.backend_start.strftime("%Y-%m-%d %H:%M:%S UTC")
            return f"a process on {row.client_addr or 'this host'} (advisory lock, since {since})"
        path = Path(current_app.instance_path) / LOCK_FILE_NAME
        pid = int(path.read_text().strip() or 0) if path.exists() else 0
        if pid <= 0:
            return "no leader yet"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"no leader (pid {pid} in {LOCK_FILE_NAME} has exited)"
        except PermissionError:
            pass
        return f"pid {pid} (file lock)"
    except Exception as exc:  # the page shows what it can; the reason, not a stack trace
        db.session.rollback()
        return f"unknown ({type(exc).__name__})"


# -- operations ---------------------------------------------------------------------------------


def _operations(where: Any, order: Any, limit: int) -> list[dict[str, Any]]:
    query = sa.select(Operation).where(where).order_by(order, Operation.id).limit(limit)
    rows = db.session.scalars(query.execution_options(populate_existing=True)).all()
    return [row.public() for row in rows]


def operations() -> dict[str, Any]:
    """Running and pending operations, recent failures with their error, recent others."""
    running = _operations(Operation.status.in_(UNFINISHED), Operation.created_at.asc(), 100)
    failed = _operations(Operation.status == FAILED, Operation.updated_at.desc(), RECENT)
    recent = _operations(
        Operation.status.notin_((*UNFINISHED, FAILED)), Operation.updated_at.desc(), RECENT
    )
    counts = {
        status: total
        for status, total in db.session.execute(
            sa.select(Operation.status, sa.func.count()).group_by(Operation.status)
        )
    }
    return {
        "running": running,
        "failed": failed,
        "recent": recent,
        "counts": {status: int(counts.get(status, 0)) for status in STATUSES},
    }


def operations_by_hour(now: dt.datetime | None = None) -> list[tuple[str, dict[str, int]]]:
    """Operations created in each of the last :data:`CHART_HOURS` hours, by status."""
    now = now or utcnow()
    start = (now - dt.timedelta(hours=CHART_HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    rows = db.session.execute(
        sa.select(Operation.created_at, Operation.status)
        .where(Operation.created_at >= start)
        .order_by(Operation.created_at.desc())
        .limit(CHART_ROWS)
    ).all()
    buckets: list[tuple[str, dict[str, int]]] = []
    index: dict[dt.datetime, dict[str, int]] = {}
    for hour in range(CHART_HOURS):
        at = start + dt.timedelta(hours=hour)
        counts = {status: 0 for status in STATUSES}
        buckets.append((at.strftime("%H:00"), counts))
        index[at] = counts
    for created_at, status in rows:
        created = created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC)
        bucket = index.get(created.replace(minute=0, second=0, microsecond=0))
        if bucket is not None and status in bucket:
            bucket[status] += 1
    return buckets


# -- projects -----------------------------------------------------------------------------------


def projects() -> list[dict[str, Any]]:
    """Every project with its feature figures and its latest test run."""
    features = {
        row.project_id: row
        for row in db.session.execute(
            sa.select(
                Feature.project_id,
                sa.func.count().label("total"),
                sa.func.sum(sa.case((Feature.passes, 1), else_=0)).label("passing"),
                sa.func.sum(sa.case((Feature.in_progress, 1), else_=0)).label("in_progress"),
                sa.func.sum(
                    sa.case((Feature.planning_work_item_id.is_not(None), 1), else_=0)
                ).label("linked"),
            ).group_by(Feature.project_id)
        )
    }
    runs = {
        row.project_id: row
        for row in db.session.execute(
            sa.select(
                Feature.project_id,
                sa.func.count(TestRun.id).label("runs"),
                sa.func.max(TestRun.started_at).label("last_run_at"),
            )
            .join(TestRun, TestRun.feature_id == Feature.id)
            .group_by(Feature.project_id)
        )
    }
    result = []
    for project in db.session.scalars(sa.select(Project).order_by(Project.name)):
        figures, tested = features.get(project.id), runs.get(project.id)
        total = int(figures.total) if figures else 0
        passing = int(figures.passing or 0) if figures else 0
        in_progress = int(figures.in_progress or 0) if figures else 0
        result.append(
            {
                "name": project.name,
                "path": project.path,
                "description": project.description,
                "features": total,
                "passing": passing,
                "in_progress": in_progress,
                "open": max(total - passing - in_progress, 0),
                "linked": int(figures.linked or 0) if figures else 0,
                "test_runs": int(tested.runs) if tested else 0,
                "last_run_at": tested.last_run_at if tested else None,
            }
        )
    return result


FEATURE_FILTERS = ("passes", "in_progress", "linked")


def project(name: str, filters: dict[str, bool]) -> dict[str, Any] | None:
    """One project's features (filtered by ``passes``, ``in_progress``, ``linked``) and its
    latest test runs; ``None`` when there is no such project."""
    found = db.session.scalar(sa.select(Project).where(Project.name == name))
    if found is None:
        return None
    query = sa.select(Feature).where(Feature.project_id == found.id)
    for column in ("passes", "in_progress"):
        if column in filters:
            query = query.where(getattr(Feature, column) == filters[column])
    if "linked" in filters:
        linked = Feature.planning_work_item_id.is_not(None)
        query = query.where(linked if filters["linked"] else sa.not_(linked))
    features = db.session.scalars(query.order_by(Feature.priority, Feature.id).limit(500)).all()
    runs = db.session.execute(
        sa.select(TestRun, Feature.name)
        .join(Feature, TestRun.feature_id == Feature.id)
        .where(Feature.project_id == found.id)
        .order_by(TestRun.started_at.desc(), TestRun.id.desc())
        .limit(RECENT)
    ).all()
    return {
        "project": found,
        "features": features,
        "test_runs": [{"run": run, "feature_name": feature_name} for run, feature_name in runs],
    }


# -- events -------------------------------------------------------------------------------------


def events(limit: int = EVENT_TAIL) -> list[Event]:
    """The newest events of every channel, newest first."""
    return list(db.session.scalars(sa.select(Event).order_by(Event.id.desc()).limit(limit)))


def last_event_id() -> int:
    """The newest event id: a page replays from here, so nothing between render and stream is
    missed."""
    return head_id()


def channels() -> list[str]:
    """Channels seen in the recent log, for the events page to follow."""
    rows = db.session.scalars(sa.select(Event.channel).order_by(Event.id.desc()).limit(500)).all()
    return [c for c in dict.fromkeys(rows) if not c.startswith("operation:")][:40]
