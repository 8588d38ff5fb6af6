"""The export progress WebSocket: the core's event stream of ``jira:export:<session>``, with
each event sent as the seed's message itself (``{"type": "export_progress", ...}``) plus its
``event_id`` for resuming. Control messages (hello, heartbeat, dropped, replay) pass unchanged,
so replay from a last event id and heartbeats are the core's."""

from __future__ import annotations

from typing import Any

from app.events.streams import stream_websocket
from plugins.jira.progress import channel


def seed_message(event: dict[str, Any]) -> dict[str, Any]:
    """The seed's message for one progress event: its data, its type and ``event_id``."""
    data = event.get("data")
    return {
        **(data if isinstance(data, dict) else {}),
        "type": event["type"],
        "event_id": event["id"],
    }


def stream_progress(ws: Any, session_id: str, last_event_id: int | None) -> None:
    """Serve the session's progress until the client leaves."""
    stream_websocket(ws, [channel(session_id)], last_event_id, shape=seed_message)
