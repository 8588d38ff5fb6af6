"""WebSocket live tail: ``/ws/builds/logs/<name>/<version>?offset=N``.

Server → client, one JSON object per message: ``{"type": "lines", "first_line", "lines"}``,
``{"type": "heartbeat"}`` after quiet seconds, ``{"type": "complete", "log_id", "next_line"}``
when the whole log is stored (then the server closes). Reconnect with ``offset=next line`` to
resume without gaps or repeats.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from app.errors import ValidationFailed
from app.events.streams import accept_websocket
from plugins.builds import logtail

ws_blp = Blueprint("builds_ws", __name__)


def _offset() -> int:
    raw = request.args.get("offset", "0")
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed("offset must be a line number (0 or more).")
    return int(raw)


@ws_blp.route("/ws/builds/logs/<string:name>/<string:version>", websocket=True)
def tail_websocket(name: str, version: str) -> Response:
    """Follow a build's live log over a WebSocket, replaying from ``offset``."""
    offset = _offset()
    beat = float(current_app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"])
    # A bad name or version fails the handshake with a problem document.
    name, version = logtail.normalized(name, version)

    def serve(ws: Any) -> None:
        for item in logtail.follow(name, version, offset, heartbeat=beat):
            ws.send(json.dumps(item if item is not None else {"type": "heartbeat"}))
            if item is not None and item["type"] == "complete":
                return

    return accept_websocket(serve)
