"""The background sync: its status, the on/off switch and the polling job."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.domain import Project
from plugins.planning import config, reports
from plugins.planning.models import SprintCompletion, SyncState
from plugins.planning.service import extension, import_cycle_now, now, record_sync, sync_state

log = logging.getLogger(__name__)


def sync_status(project: Project | None) -> dict[str, Any]:
    """The seed's sync-status body for the project, or without one for every project together
    (syncs happen per project, so the global view sums and takes the latest of theirs)."""
    values = config.effective(project)
    state = sync_state(project) if project is not None else None
    db.session.commit()
    active = values.get("active_cycle_id")
    enabled = bool(values.get("sync_enabled"))
    body: dict[str, Any] = {
        "enabled": enabled,
        "running": enabled and _scheduler_running(),
        **(_figures(state) if state is not None else _all_projects()),
        "active_cycle_id": active,
        "active_cycle_name": None,
        "sprint_complete": False,
        "sprint_stats": reports.sprint_stats(project) if project else _empty_stats(),
        "poll_interval": values.get("poll_interval"),
    }
    if project is not None:
        body["project_name"] = project.name
        stats = body["sprint_stats"]
        # Complete when every linked feature passes: an untested feature is not done either.
        body["sprint_complete"] = bool(stats["total"]) and stats["passing"] == stats["total"]
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


def _figures(state: SyncState) -> dict[str, Any]:
    """The sync-status members one project's state gives."""
    return {
        "last_sync_at": state.last_sync_at,
        "last_error": state.last_error,
        "items_synced": state.items_synced,
        "last_webhook_at": state.last_webhook_at,
        "webhook_count": state.webhook_count,
        "backoff_until": state.backoff_until,
    }


def _all_projects() -> dict[str, Any]:
    """Every project's sync state together: counts summed, the latest times, the errors named
    by project."""
    rows = db.session.execute(
        sa.select(Project.name, SyncState).join(SyncState, SyncState.project_id == Project.id)
    ).all()
    states = [state for _, state in rows]

    def latest(name: str) -> dt.datetime | None:
        times = [getattr(state, name) for state in states if getattr(state, name) is not None]
        return max(times) if times else None

    errors = [f"{name}: {state.last_error}" for name, state in rows if state.last_error]
    return {
        "last_sync_at": latest("last_sync_at"),
        "last_error": "; ".join(sorted(errors)) or None,
        "items_synced": sum(state.items_synced for state in states),
        "last_webhook_at": latest("last_webhook_at"),
        "webhook_count": sum(state.webhook_count for state in states),
        "backoff_until": latest("backoff_until"),
    }


def _empty_stats() -> dict[str, Any]:
    return {
        "total": 0,
        "passing": 0,
        "failed": 0,
        "untested": 0,
        "total_test_runs": 0,
        "overall_pass_rate": 0.0,
    }


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
