"""The seed's WebSocket streams: ``/ws/tasks/{task_id}`` and ``/ws/runs/{run_id}``.

Served with the core's stream helpers (replay, heartbeats, bounded queues with the ``dropped``
notice, Origin checks, across workers through the event log). Unlike the core's ``/ws/stream``
they replay the channel from its beginning unless the client names a ``last_event_id``, so a
client that connects after ``plan_ready`` still gets it. Each event message is the seed's
payload at the top level (``event_type, timestamp, task_id, run_id, data, message``) plus the
log's ``id``, ``channel``, ``type``, ``project`` and ``created_at``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from app.db import db
from app.events import accept_websocket, parse_event_id, stream_websocket
from plugins.agents.events import run_channel, task_channel
from plugins.agents.runs import get_run
from plugins.agents.tasks import get_task

ws_bp = Blueprint("agents_ws", __name__)


def seed_shaped(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its seed payload (``event_type``...) flattened into the message."""
    seed = event.get("data")
    if isinstance(seed, dict) and "event_type" in seed:
        body = {key: value for key, value in event.items() if key != "data"}
        return {**body, **seed}
    return event


def _stream(channel: str) -> Response:
    last = parse_event_id(request.args.get("last_event_id"), "last_event_id")
    db.session.close()  # no transaction stays open for the life of the socket
    start = 0 if last is None else last
    return accept_websocket(lambda ws: stream_websocket(ws, [channel], start, shape=seed_shaped))


@ws_bp.route("/ws/tasks/<int:task_id>", websocket=True)
def task_stream(task_id: int) -> Response:
    """Events of one task (all its runs), replayed from the start or ``?last_event_id=``."""
    get_task(task_id)
    return _stream(task_channel(task_id))


@ws_bp.route("/ws/runs/<int:run_id>", websocket=True)
def run_stream(run_id: int) -> Response:
    """Events and log lines of one run, replayed from the start or ``?last_event_id=``."""
    get_run(run_id)
    return _stream(run_channel(run_id))
