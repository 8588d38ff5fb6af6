"""Events: the event log, its notifiers, subscriptions and the WebSocket/SSE streams.

``publish()`` appends an event to the ``events`` table in its own short transaction and then
wakes subscribers. A wake-up carries only ``(channel, id)``: subscribers always read the events
themselves from the log, so a lost notification delays an event (until the next low-rate poll)
but never loses it, and a reconnecting client replays from the id it last saw.

The package, one job per module, each importing only the ones before it (no circle):

- :mod:`~app.events.log` — the ``events`` table, appending, reading, retention;
- :mod:`~app.events.subscriptions` — a consumer's bounded queue with replay;
- :mod:`~app.events.notifiers` — wake-ups between processes (memory, Redis, PostgreSQL);
- :mod:`~app.events.hub` — one dispatcher per app and process; :func:`publish`,
  :func:`subscribe`;
- :mod:`~app.events.streams` — WebSocket and SSE helpers for any route;
- :mod:`~app.events.routes` — the core endpoints ``/ws/stream``, ``/api/events`` and
  ``/api/events/stream``.
"""

from __future__ import annotations

from flask import Flask

from app import scheduler
from app.events import routes
from app.events.hub import Hub, close_streams, get_hub, publish, subscribe
from app.events.log import (
    DISPATCH_PAGE,
    REPLAY_PAGE,
    Event,
    Gap,
    Item,
    LogEvent,
    head_id,
    prune,
    read_after,
)
from app.events.notifiers import notifier_kind
from app.events.streams import (
    CHANNEL_RE,
    MAX_CHANNELS,
    MAX_EVENT_ID,
    accept_websocket,
    check_websocket_origin,
    origin_allowed,
    parse_channels,
    parse_event_id,
    request_origin_allowed,
    sse_response,
    stream_websocket,
)
from app.events.subscriptions import Subscription

__all__ = [
    "CHANNEL_RE",
    "DISPATCH_PAGE",
    "MAX_CHANNELS",
    "MAX_EVENT_ID",
    "REPLAY_PAGE",
    "Event",
    "Gap",
    "Hub",
    "Item",
    "LogEvent",
    "Subscription",
    "accept_websocket",
    "check_websocket_origin",
    "close_streams",
    "get_hub",
    "head_id",
    "init_app",
    "notifier_kind",
    "origin_allowed",
    "parse_channels",
    "parse_event_id",
    "prune",
    "publish",
    "read_after",
    "request_origin_allowed",
    "sse_response",
    "stream_websocket",
    "subscribe",
]


def init_app(app: Flask) -> None:
    """Create the hub, register the events API and streams, and the retention job."""
    get_hub(app)
    routes.init_app(app)
    scheduler.register_core_job(
        prune, seconds=float(app.config["JUNCTION_EVENTS_PRUNE_INTERVAL"]), id="events.prune"
    )
