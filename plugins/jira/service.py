"""Starting, following and retrying exports; the seed's status and results bodies."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from app import operations
from app.db import db
from app.domain.models import Project
from app.errors import Conflict, JunctionError, ValidationFailed
from app.http.ratelimit import RateLimit, default_limiter
from plugins.jira import progress, sessions
from plugins.jira.config import jira_config
from plugins.jira.export import KIND, MAX_RETRIES
from plugins.jira.models import ExportSession

STATUS_LIMIT = RateLimit(rate_per_minute=30, burst=1)  # 1 request per 2 s


class TooManyRequests(JunctionError):
    """429: polled too often."""

    status, code, retryable = 429, "JIRA_STATUS_RATE_LIMITED", True


class RetriesExhausted(JunctionError):
    """422: the seed's *Max Retries Exceeded* body."""

    status, code = 422, "JIRA_MAX_RETRIES"


def _project_name(session: ExportSession) -> str | None:
    project = db.session.get(Project, session.project_id) if session.project_id else None
    return project.name if project else None


def _counts(session: ExportSession) -> tuple[int, int, int]:
    tickets = sessions.tickets_of(session)
    done = sum(1 for t in tickets if t.jira_ticket_key)
    links = sum(len(t.dependencies or []) for t in tickets)
    return done, len(tickets), links


def _running(session: ExportSession) -> operations.Operation | None:
    if session.status != "exporting" or not session.export_task_id:
        return None
    try:
        operation = operations.get_operation(session.export_task_id)
    except JunctionError:
        return None
    return None if operation.finished else operation


def _per_ticket(session: ExportSession) -> float:
    try:
        cfg = jira_config(session.project_id)
    except JunctionError:
        return progress.SECONDS_PER_TICKET
    return cfg.pacing_seconds if cfg.pacing == "fixed" else 0.3


def _submit(session: ExportSession, params: dict[str, Any]) -> operations.Operation:
    operation = operations.submit(
        KIND, params, project=_project_name(session), dedupe_key=f"{KIND}:{session.id}"
    )
    session.status = "exporting"
    session.current_stage = "jira_export"
    session.export_task_id = operation.id
    session.export_started_at = dt.datetime.now(dt.UTC)
    db.session.commit()
    operations.runner_job()  # start now, in this process, instead of at the next tick
    return operation


def _already_running(session: ExportSession) -> dict[str, Any]:
    done, total, _ = _counts(session)
    return {
        "task_id": session.export_task_id,
        "session_id": session.id,
        "status": "exporting",
        "progress_percentage": round(100.0 * done / total, 1) if total else 0.0,
        "current_ticket_title": session.current_ticket_title or "",
        "started_at": session.export_started_at,
    }


def start_export(session_id: str) -> dict[str, Any]:
    """The seed's ``ExportStartResponse`` (or ``ExportAlreadyRunningResponse``)."""
    session = sessions.get_session(session_id)
    if _running(session) is not None:
        return _already_running(session)
    if session.status == "completed":
        raise ValidationFailed(
            f"This session was exported already; see GET /api/jira/export-results/{session.id}.",
            code="JIRA_ALREADY_EXPORTED",
        )
    if session.status == "export_failed":
        raise ValidationFailed(
            f"The last export failed; resume it with POST /api/jira/retry-failed/{session.id}.",
            code="JIRA_USE_RETRY",
        )
    _done, total, links = _counts(session)
    if not total:
        raise ValidationFailed("The session has no tickets to export.", code="JIRA_NO_TICKETS")
    cfg = jira_config(session.project_id)
    key = session.jira_project_key or cfg.default_project_key
    if not key:
        raise ValidationFailed(
            "Name the Jira project: set the session's jira_project_key or the "
            "default_project_key setting.",
            code="JIRA_NO_PROJECT",
        )
    session.jira_project_key = key
    operation = _submit(session, {"session_id": session.id})
    return {
        "task_id": operation.id,
        "session_id": session.id,
        "status": "exporting",
        "total_tickets": total,
        "estimated_duration_minutes": progress.estimate_minutes(total, links, _per_ticket(session)),
        "jira_project_key": key,
        "started_at": session.export_started_at,
    }


def retry_failed(session_id: str) -> dict[str, Any]:
    """The seed's ``ExportRetryResponse``; 409 while running, the seed's 422 past 3 retries."""
    session = sessions.get_session(session_id)
    if _running(session) is not None:
        raise Conflict(
            "An export of this session is running; wait for it to finish.",
            code="JIRA_EXPORT_RUNNING",
            retryable=True,
        )
    if session.status != "export_failed":
        raise ValidationFailed(
            f"Only a failed export can be retried (the session is {session.status}).",
            code="JIRA_NOT_FAILED",
        )
    if session.export_retry_count >= MAX_RETRIES:
        raise RetriesExhausted(
            f"Maximum retry attempts ({MAX_RETRIES}) exceeded. Please contact administrator.",
            error_category="admin_required",
            user_message=f"Maximum retry attempts ({MAX_RETRIES}) exceeded. Please contact "
            "administrator.",
            recovery_actions=["Contact system administrator", "Session may need manual cleanup"],
            retry_attempts_used=session.export_retry_count,
            first_error_at=_iso(session.first_error_at),
        )
    done, _, _ = _counts(session)
    resume_from = session.failed_at_ticket_order
    session.export_retry_count += 1
    operation = _submit(session, {"session_id": session.id, "retry": session.export_retry_count})
    return {
        "task_id": operation.id,
        "session_id": session.id,
        "status": "exporting",
        "retry_attempt": session.export_retry_count,
        "remaining_retries": MAX_RETRIES - session.export_retry_count,
        "resuming_from_ticket_order": resume_from,
        "preserved_successful_tickets": done,
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def check_status_rate(session_id: str, clock: Any = None) -> None:
    """1 request per 2 s per session, shared by every worker (Redis when configured)."""
    limiter = default_limiter()
    now = (clock or progress.extension().get("clock") or time.monotonic)()
    wait = limiter.acquire(f"jira:status:{session_id}", [("_key", STATUS_LIMIT)], now)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(
            f"Export status is limited to 1 request per 2 seconds per session; retry in "
            f"{seconds} s, or follow ws /api/jira/export/progress/{session_id}.",
            headers={"Retry-After": str(seconds)},
        )


def export_status(session_id: str) -> dict[str, Any]:
    """One of the seed's three status bodies (``exporting``, ``completed``, ``failed``)."""
    session = sessions.get_session(session_id)
    check_status_rate(session.id)
    done, total, _ = _counts(session)
    task_id = session.export_task_id or session.last_task_id
    if session.status == "completed":
        return {
            "session_id": session.id,
            "task_id": task_id,
            "status": "completed",
            "jira_tickets_created": done,
            "dependencies_created": session.dependencies_created,
            "manual_fixes_needed": len(session.manual_fixes or []),
            "total_processing_time_minutes": round(session.processing_seconds / 60, 2),
            "completed_at": session.completed_at,
        }
    if session.status == "export_failed":
        return {
            "session_id": session.id,
            "task_id": task_id,
            "status": "failed",
            "failed_at_ticket_order": session.failed_at_ticket_order,
            "error_category": session.error_category,
            "user_message": session.error_message,
            "recovery_actions": list(session.recovery_actions or []),
            "retry_available": session.export_retry_count < MAX_RETRIES,
            "retry_attempts_used": session.export_retry_count,
        }
    if session.status != "exporting":
        raise ValidationFailed(
            f"Session {session.id} has not been exported yet; start with POST "
            f"/api/jira/export-session/{session.id}.",
            code="JIRA_NOT_EXPORTED",
        )
    return {
        "session_id": session.id,
        "task_id": task_id,
        "status": "exporting",
        "progress_percentage": round(100.0 * done / total, 1) if total else 0.0,
        "tickets_completed": done,
        "total_tickets": total,
        "current_ticket_title": session.current_ticket_title,
        "estimated_time_remaining_minutes": progress.estimate_minutes(
            total - done, 0, _per_ticket(session)
        ),
    }


def export_results(session_id: str) -> dict[str, Any]:
    """The seed's ``ExportResultsResponse`` (plus orphans to clean up by hand)."""
    session = sessions.get_session(session_id)
    tickets = [t for t in sessions.tickets_of(session) if t.jira_ticket_key]
    fixes = []
    by_id = {t.id: t for t in tickets}
    for fix in session.manual_fixes or []:
        ticket = by_id.get(fix.get("ticket_id") or "")
        fixes.append(
            {
                "jira_key": fix.get("jira_key") or (ticket.jira_ticket_key if ticket else None),
                "title": fix.get("title"),
                "issue_type": fix.get("issue_type"),
                "recommended_action": fix.get("recommended_action"),
                "jira_url": fix.get("jira_url") or (ticket.jira_ticket_url if ticket else None),
            }
        )
    return {
        "session_id": session.id,
        "status": session.status,
        "total_tickets_created": len(tickets),
        "jira_tickets": [
            {
                "ticket_id": t.id,
                "jira_key": t.jira_ticket_key,
                "jira_url": t.jira_ticket_url,
                "title": t.title,
            }
            for t in tickets
        ],
        "dependencies_created": session.dependencies_created,
        "manual_fixes": fixes,
        "orphans": list(session.orphans or []),
        "total_processing_time_minutes": round(session.processing_seconds / 60, 2),
    }
