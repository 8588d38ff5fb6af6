"""The seed's progress messages, published on the event channel ``jira:export:<session id>``.

The WebSocket route streams that channel through the core's event streams (replay from a last
event id, heartbeats); each event's ``type`` is the seed's message type and its ``data`` the
seed's message, so a client that reconnects misses nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import current_app

from app import events

log = logging.getLogger(__name__)
SECONDS_PER_TICKET = 1.5


def channel(session_id: str) -> str:
    """The session's event channel (carries the plugin's name)."""
    return f"jira:export:{session_id}"


def extension() -> dict[str, Any]:
    """The plugin's per-app hooks for tests (``client_factory``, ``sleep``, ``clock``...)."""
    hooks: dict[str, Any] = current_app.extensions.setdefault("jira", {})
    return hooks


def estimate_minutes(tickets: int, links: int, per_ticket: float) -> int:
    """The seed's estimate: tickets x pacing + dependency creation, rounded up to minutes."""
    seconds = tickets * max(per_ticket, 0.3) + links * 0.3
    return max(1, math.ceil(seconds / 60)) if tickets else 0


def publish(session_id: str, message: dict[str, Any], project: str | None = None) -> None:
    """Publish one seed message (best effort: the session row stays the truth)."""
    try:
        events.publish(channel(session_id), message["type"], message, project=project)
    except Exception:  # a lost progress event must not fail an export
        log.warning("could not publish %s for session %s", message["type"], session_id)


def progress_message(
    session_id: str,
    done: int,
    total: int,
    failed: int,
    stage: str,
    project_key: str,
    per_ticket: float,
) -> dict[str, Any]:
    """``export_progress``."""
    return {
        "type": "export_progress",
        "session_id": session_id,
        "status": "exporting",
        "progress_percentage": round(100.0 * done / total, 1) if total else 100.0,
        "current_stage": stage,
        "tickets_completed": done,
        "tickets_failed": failed,
        "total_tickets": total,
        "estimated_time_remaining_minutes": estimate_minutes(total - done, 0, per_ticket),
        "current_jira_project": project_key,
    }


def complete_message(
    session_id: str, created: int, links: int, fixes: int, minutes: float
) -> dict[str, Any]:
    """``export_complete``."""
    return {
        "type": "export_complete",
        "session_id": session_id,
        "status": "completed",
        "tickets_created": created,
        "dependencies_created": links,
        "manual_fixes_needed": fixes,
        "total_processing_time_minutes": round(minutes, 2),
    }


def failed_message(
    session_id: str, order: int | None, category: str, retry: bool, message: str
) -> dict[str, Any]:
    """``export_failed``."""
    return {
        "type": "export_failed",
        "session_id": session_id,
        "status": "failed",
        "failed_at_ticket": order,
        "error_category": category,
        "retry_available": retry,
        "error_message": message,
    }
