"""Events: the event log, its notifiers, subscriptions and the WebSocket/SSE streams.

``publish()`` appends an event to the ``events`` table in its own short transaction and then
hands it to subscribers through the notifier, which carries the event itself (or only
``(id, channel)`` when it is big). The log stays the source of truth: a gap in the ids makes a
process read the log, so a lost notification delays an event (at worst until the next low-rate
poll) but never loses it, and a reconnecting client replays from the id it last saw.

The package, one job per module, each importing only the ones before it (no circle):

- :mod:`~app.events.wire` — WebSocket frames encoded once per event, written without blocking;
- :mod:`~app.events.log` — the ``events`` table, appending, reading, retention;
- :mod:`~app.events.subscriptions` — a consumer's bounded queue with replay;
- :mod:`~app.events.notifiers` — wake-ups between processes (memory, Redis, PostgreSQL);
- :mod:`~app.events.hub` — one dispatcher per app and process, owning the notifier;
- :mod:`~app.events.publishing` — :func:`publish` and :func:`subscribe`, on top of the hub;
- :mod:`~app.events.access` — who may open a stream (channels, ids, Host, Origin) and the
  per-worker stream cap;
- :mod:`~app.events.sse` — server-sent event streams for any route;
- :mod:`~app.events.streams` — WebSocket streams for any route (re-exports ``sse_response``);
- :mod:`~app.events.routes` — the core endpoints ``/ws/stream``, ``/api/events`` and
  ``/api/events/stream``.
"""

from __future__ import annotations

from flask import Flask

from app import scheduler
from app.events import routes
from app.events.access import (
    CHANNEL_RE,
    MAX_CHANNELS,
    MAX_EVENT_ID,
    STREAMS_OPEN,
    StreamSlot,
    check_websocket_origin,
    open_stream,
    parse_channels,
    parse_event_id,
    stream_limit,
    stream_refusal,
)
from app.events.hub import Hub, close_streams, get_hub
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
from app.events.publishing import publish, subscribe
from app.events.sse import sse_response
from app.events.streams import accept_websocket, stream_websocket
from app.events.subscriptions import Subscription

__all__ = [
    "CHANNEL_RE",
    "DISPATCH_PAGE",
    "MAX_CHANNELS",
    "MAX_EVENT_ID",
    "REPLAY_PAGE",
    "STREAMS_OPEN",
    "Event",
    "Gap",
    "Hub",
    "Item",
    "LogEvent",
    "StreamSlot",
    "Subscription",
    "accept_websocket",
    "check_websocket_origin",
    "close_streams",
    "get_hub",
    "head_id",
    "init_app",
    "notifier_kind",
    "open_stream",
    "parse_channels",
    "parse_event_id",
    "prune",
    "publish",
    "read_after",
    "sse_response",
    "stream_limit",
    "stream_refusal",
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
