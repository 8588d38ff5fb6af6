"""Publishing and subscribing: the two calls every plugin makes, on top of the app's hub.

:func:`publish` appends to the log and hands the event to this process's hub (which tells the
others through the notifier); :func:`subscribe` opens a :class:`Subscription` that replays the
log from an id and then follows it live.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable
from typing import Any

from app.events.hub import get_hub
from app.events.log import append_event, head_id
from app.events.subscriptions import Subscription
from app.events.wire import FrameSink
from app.namespaces import SHARED_CHANNELS, check_name, owner_of_module
from app.state import current_app_object, junction_state


def publish(channel: str, type: str, data: dict[str, Any], *, project: str | None = None) -> int:
    """Append an event to the log in its own transaction and wake subscribers; return its id.

    Needs an app context. Call it after committing your own changes: on SQLite the append waits
    for the database's write lock, which an open write transaction of the caller would hold.

    Called from a plugin's code, the channel must be the plugin's own (``<plugin>:...``) or a
    shared one of the core (:data:`~app.namespaces.SHARED_CHANNELS`); anything else raises
    :class:`~app.namespaces.NamespaceError` naming the channel and the plugin.
    """
    if not channel or len(channel) > 255:
        raise ValueError("channel must be 1..255 characters")
    if channel not in SHARED_CHANNELS:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        plugin = owner_of_module(caller, junction_state().registry.packages)
        if plugin is not None:
            check_name(plugin, "event channel", channel)
    hub = get_hub()
    payload = json.loads(json.dumps(data, default=str))  # fail here, not in a reader
    pg_notify = hub.pg_channel if hub.kind == "postgres" else None
    event = append_event(channel, type, payload, project, pg_notify)
    hub.published(event)
    return event.id


def subscribe(
    channels: Iterable[str],
    after: int | None = None,
    *,
    queue_size: int | None = None,
    wake: threading.Event | None = None,
    sink: FrameSink | None = None,
) -> Subscription:
    """Follow ``channels`` from the event after ``after`` (``None``: from now on).

    Needs an app context. The subscription replays the log, then receives live events through a
    queue of ``queue_size`` (default ``EVENTS_QUEUE_SIZE``) events, or straight into a
    WebSocket's ``sink`` (see :class:`Subscription`).
    """
    channels = [c for c in dict.fromkeys(channels) if c]
    if not channels:
        raise ValueError("subscribe to at least one channel")
    app = current_app_object()
    hub = get_hub(app)
    start = head_id(hub.engine) if after is None else max(int(after), 0)
    size = int(queue_size or app.config["JUNCTION_EVENTS_QUEUE_SIZE"])
    sub = Subscription(hub, channels, start, size, wake, sink)
    hub.register(sub)
    return sub
