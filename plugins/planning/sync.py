"""The background sync: its status, the on/off switch and the polling job."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.domain import Project
from plugins.planning import config, reports
from plugins.planning.models import SprintCompletion
from plugins.planning.service import extension, import_cycle_now, now, record_sync, sync_state

log = logging.getLogger(__name__)


def sync_status(project: Project | None) -> dict[str, Any]:
    """The seed's sync-status body for the project (or the global configuration)."""
    values = config.effective(project)
    state = sync_state(project) if project is not None else None
    db.session.commit()
    active = values.get("active_cycle_id")
    enabled = bool(values.get("sync_enabled"))
    body: dict[str, Any] = {
        "enabled": enabled,
        "running": enabled and _scheduler_running(),
        "last_sync_at": state.last_sync_at if state else None,
        "last_error": state.last_error if state else None,
        "items_synced": state.items_synced if state else 0,
        "active_cycle_id": active,
        "active_cycle_name": None,
        "sprint_complete": False,
        "sprint_stats": reports.sprint_stats(project) if project else _empty_stats(),
        "last_webhook_at": state.last_webhook_at if state else None,
        "webhook_count": state.webhook_count if state else 0,
        "backoff_until": state.backoff_until if state else None,
        "poll_interval": values.get("poll_interval"),
    }
    if project is not None:
        body["project_name"] = project.name
        stats = body["sprint_stats"]
        body["sprint_complete"] = bool(stats["total"]) and stats["failed"] == 0
        if active and state is not None and state.cycle_id == active:
            body["active_cycle_name"] = state.cycle_name
        if active and body["active_cycle_name"] is None:
            done = db.session.scalar(
                sa.select(SprintCompletion.cycle_name).where(
                    SprintCompletion.project_id == project.id,
                    SprintCompletion.cycle_id == active,
                )
            )
            body["active_cycle_name"] = done
    if active and body["active_cycle_name"] is None:
        body["active_cycle_name"] = extension().get("cycle_names", {}).get(active)
    return body


def _empty_stats() -> dict[str, Any]:
    return {"total": 0, "passing": 0, "failed": 0, "total_test_runs": 0, "overall_pass_rate": 0.0}


def _scheduler_running() -> bool:
    """Whether the scheduler that runs the poll job takes part here (leader or standby)."""
    try:
        from app import scheduler

        role = scheduler.get_service().role()
    except (ImportError, KeyError, AttributeError):  # pragma: no cover - no scheduler
        return False
    return role.startswith(("leader", "standby"))


def toggle_sync(project: Project | None) -> dict[str, Any]:
    """Flip ``sync_enabled`` for the project (or globally); the new sync status."""
    from app import settings

    values = config.effective(project)
    if not values.get("sync_enabled"):
        config.plane_config(project)  # refuse to enable an unconfigured sync
    settings.set_values(
        config.NAMESPACE,
        {"sync_enabled": not values.get("sync_enabled")},
        project.id if project else None,
    )
    return sync_status(project)


# -- polling ------------------------------------------------------------------------------------


def poll_due_projects(at: dt.datetime | None = None) -> int:
    """The sync job: re-import the active cycle of every enabled project whose interval passed.

    Skips projects in backoff (Plane rate-limiting or down: exponential from 30 s up to 15 min,
    never shorter than Plane's ``Retry-After``). Returns how many projects were polled.
    """
    at = at or now()
    polled = 0
    for project in db.session.scalars(sa.select(Project).order_by(Project.name)).all():
        values = config.effective(project)
        if not values.get("sync_enabled") or not values.get("active_cycle_id"):
            continue
        state = sync_state(project)
        db.session.commit()
        if state.backoff_until and state.backoff_until > at:
            continue
        interval = dt.timedelta(seconds=int(values.get("poll_interval") or 30))
        if state.last_sync_at and state.last_sync_at + interval > at:
            continue
        polled += 1
        try:
            import_cycle_now(project, values["active_cycle_id"], bucket="polling", at=at)
        except Exception as exc:  # recorded and backed off; the next project still runs
            db.session.rollback()
            message = getattr(exc, "detail", None) or str(exc)
            retry_after = _retry_after_of(exc)
            log.warning("planning poll of %s failed: %s", project.name, message)
            record_sync(project, None, error=message, at=at, retry_after=retry_after)
    return polled


def _retry_after_of(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        return float(headers["Retry-After"]) if "Retry-After" in headers else None
    except ValueError:
        return None
