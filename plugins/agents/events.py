"""The seed's events, published through the core event log.

The seed routes every event to ``task:{id}``, ``run:{id}`` and ``all``. Channels carry the
plugin's name in Junction (namespacing is enforced), so they are ``agents:task:{id}``,
``agents:run:{id}`` and ``agents``. The event's ``type`` is the seed's ``event_type``; its
``data`` is the seed's payload ``{event_type, timestamp, task_id, run_id, data, message}``.
"""

from __future__ import annotations

import logging
from typing import Any

from app import events
from app.operations import runtime

log = logging.getLogger(__name__)

ALL_CHANNEL = "agents"
EVENT_TYPES = (
    "analysis_start",
    "plan_ready",
    "approval_required",
    "approved",
    "rejected",
    "progress",
    "completion",
    "failure",
    "cancelled",
)
LOG_EVENT = "log"  # a line of a run's log; on the run's channel only


def task_channel(task_id: int) -> str:
    """The channel of one task (the seed's ``task:{id}``)."""
    return f"agents:task:{task_id}"


def run_channel(run_id: int) -> str:
    """The channel of one run (the seed's ``run:{id}``)."""
    return f"agents:run:{run_id}"


def payload(
    event_type: str,
    task_id: int,
    run_id: int | None,
    data: dict[str, Any] | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The seed's ``EventPayload``."""
    return {
        "event_type": event_type,
        "timestamp": runtime().now().isoformat(),
        "task_id": task_id,
        "run_id": run_id,
        "data": data or {},
        "message": message,
    }


def emit(
    event_type: str,
    task_id: int,
    run_id: int | None,
    data: dict[str, Any] | None = None,
    message: str | None = None,
    *,
    project: str | None = None,
) -> dict[str, Any]:
    """Publish one of the seed's events on the run's, the task's and the global channel.

    Call it after committing: the row is the truth, the event tells about it.
    """
    body = payload(event_type, task_id, run_id, data, message)
    channels = [task_channel(task_id), ALL_CHANNEL]
    if run_id is not None:
        channels.insert(0, run_channel(run_id))
    for channel in channels:
        events.publish(channel, event_type, body, project=project)
    return body


def emit_log(task_id: int, run_id: int, line: str, stream: str, step_id: str | None) -> None:
    """Publish one log line on the run's channel."""
    body = payload(LOG_EVENT, task_id, run_id, {"line": line, "stream": stream, "step_id": step_id})
    events.publish(run_channel(run_id), LOG_EVENT, body)
