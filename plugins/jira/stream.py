"""The export progress WebSocket: the core's event stream of ``jira:export:<session>``, with
each event sent as the seed's message itself (``{"type": "export_progress", ...}``) plus its
``event_id`` for resuming. Control messages (hello, heartbeat, dropped, replay) pass unchanged,
so replay from a last event id and heartbeats are the core's."""

from __future__ import annotations

import json
from typing import Any

from app.events.streams import stream_websocket
from plugins.jira.progress import channel


class _SeedMessages:
    """A WebSocket wrapper that unwraps event envelopes into the seed's messages."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    def send(self, payload: str) -> None:
        """Send one message; events become ``{**data, "event_id": id}``."""
        try:
            message = json.loads(payload)
        except (TypeError, ValueError):
            message = None
        if (
            isinstance(message, dict)
            and "channel" in message
            and isinstance(message.get("data"), dict)
        ):
            out = {**message["data"], "type": message["type"], "event_id": message["id"]}
            payload = json.dumps(out, separators=(",", ":"))
        self._ws.send(payload)


def stream_progress(ws: Any, session_id: str, last_event_id: int | None) -> None:
    """Serve the session's progress until the client leaves."""
    stream_websocket(_SeedMessages(ws), [channel(session_id)], last_event_id)
