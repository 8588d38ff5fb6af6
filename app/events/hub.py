"""The hub: one per app and process, it feeds the subscriptions and owns the notifier.

A dispatcher thread reads new events of every followed channel once and hands them to the
subscriptions' bounded queues; a full queue drops the event and records a *gap* that the consumer
sees as a ``dropped`` notice (never silently). The notifier (:mod:`app.events.notifiers`) carries
wake-ups between processes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from app import redislink
from app.db import db, libpq_conninfo
from app.events import notifiers
from app.events.log import DISPATCH_PAGE, append, head_id, read_after
from app.events.subscriptions import Subscription
from app.redislink import LinkHealth
from app.state import junction_state

log = logging.getLogger("app.events")

PUBLISH_RETRY_AFTER = 3.0  # seconds without Redis notifies after a failed one


class Hub:
    """Feeds the subscriptions of one app in one process, and owns its notifier."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.kind = notifiers.notifier_kind(app)
        if self.kind == "redis" and not app.config.get("JUNCTION_REDIS_URL"):
            log.warning("events: notifier 'redis' needs JUNCTION_REDIS_URL; using 'memory'")
            self.kind = "memory"
        if self.kind == "postgres" and not app.config["SQLALCHEMY_DATABASE_URI"].startswith(
            "postgresql"
        ):
            log.warning("events: notifier 'postgres' needs a PostgreSQL database; using 'memory'")
            self.kind = "memory"
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        # channel -> live subscriptions; the dispatcher reads only these channels.
        self._index: dict[str, set[Subscription]] = {}
        self._generation = 0
        self._dispatch_cursor = 0
        self._wake = threading.Event()
        self._stop: threading.Event | None = None
        self._pid = 0
        self._engine: Engine | None = None
        self._redis: Any = None
        self._publish_retry_at = 0.0
        self._publish_health = LinkHealth(
            log, "events (notify)", "other processes find new events by polling"
        )
        self._listen_health = LinkHealth(
            log, "events (wake-ups)", "subscribers poll the event log meanwhile"
        )

    # -- settings --

    @property
    def engine(self) -> Engine:
        """The app's engine (looked up once)."""
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    @property
    def pg_channel(self) -> str:
        """The PostgreSQL NOTIFY channel."""
        return str(self.app.config["JUNCTION_EVENTS_PG_CHANNEL"])

    @property
    def redis_channel(self) -> str:
        """The Redis pub/sub channel."""
        return str(self.app.config["JUNCTION_EVENTS_REDIS_CHANNEL"])

    # -- publishing side --

    def published(self, channel: str, event_id: int) -> None:
        """An event was appended here: wake local subscribers and tell other processes."""
        self.notified(channel, event_id)
        if self.kind == "redis":
            # After a failure Redis is left alone for a few seconds: a cut link would otherwise
            # hold every publisher for the socket timeout.
            if not self._publish_health.healthy and time.monotonic() < self._publish_retry_at:
                return
            try:
                self._redis_client().publish(self.redis_channel, f"{event_id} {channel}")
            except Exception as exc:  # the event is in the log: polling delivers it anyway
                self._publish_retry_at = time.monotonic() + PUBLISH_RETRY_AFTER
                self._publish_health.failed(exc)
            else:
                self._publish_health.ok()

    def notified(self, channel: str, event_id: int) -> None:
        """A notification arrived (local or remote): wake the dispatcher if it cares."""
        if channel in self._index and event_id > self._dispatch_cursor:
            self._wake.set()

    def _redis_client(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(
                self.app.config["JUNCTION_REDIS_URL"],
                **redislink.client_options(socket_timeout=2, health_check_interval=30),
            )
        return self._redis

    # -- subscriptions --

    def register(self, sub: Subscription) -> None:
        """Add a subscription (it starts replaying) and make sure the threads run."""
        with self._lock:
            self._subs.add(sub)
            self._ensure_running()

    def unregister(self, sub: Subscription) -> None:
        """Forget a subscription."""
        with self._lock:
            self._subs.discard(sub)
            self._unindex(sub)
        self._wake.set()  # lets the dispatcher notice when nobody is left

    def go_live(self, sub: Subscription) -> bool:
        """Switch ``sub`` from replay to live if the dispatcher is not ahead of it."""
        with self._lock:
            if sub.closed:
                return False
            if not self._index:
                # Nobody is live: the dispatcher's position does not matter, start at ours.
                self._dispatch_cursor = max(self._dispatch_cursor, sub.cursor)
            if sub.cursor < self._dispatch_cursor:
                return False
            for channel in sub.channels:
                if channel not in self._index:
                    self._index[channel] = set()
                    self._generation += 1
                self._index[channel].add(sub)
            sub._live = True
        self._wake.set()
        return True

    def rewind(self, sub: Subscription, after: int) -> None:
        """Put ``sub`` back into replay from ``after``."""
        with self._lock:
            self._unindex(sub)
            sub._reset(max(int(after), 0))

    def _unindex(self, sub: Subscription) -> None:
        for channel in sub.channels:
            members = self._index.get(channel)
            if members is not None:
                members.discard(sub)
                if not members:
                    del self._index[channel]

    # -- threads --

    def _ensure_running(self) -> None:
        # Caller holds the lock. Threads start on the first subscription (never at import or
        # create_app, so a preloading gunicorn master forks no threads) and again after a fork.
        if self._stop is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        stop = threading.Event()
        self._stop = stop
        threading.Thread(
            target=self._dispatch_loop, args=(stop,), name="junction-events-dispatch", daemon=True
        ).start()
        listener = {"redis": self._redis_listen, "postgres": self._pg_listen}.get(self.kind)
        if listener is not None:
            threading.Thread(
                target=listener, args=(stop,), name=f"junction-events-{self.kind}", daemon=True
            ).start()

    def _dispatch_loop(self, stop: threading.Event) -> None:
        poll = float(self.app.config["JUNCTION_EVENTS_POLL_SECONDS"])
        failures = 0
        while not stop.is_set():
            with self._lock:
                if not self._subs:
                    # Nobody listens: stop the threads; the next subscription starts them again.
                    stop.set()
                    if self._stop is stop:
                        self._stop = None
                    return
            try:
                self._dispatch()
                failures = 0
            except Exception:
                failures += 1
                log.exception("events: reading the log failed (attempt %d)", failures)
                stop.wait(min(30.0, poll * 2**failures))
                continue
            self._wake.wait(poll)
            self._wake.clear()

    def _dispatch(self) -> None:
        """Read new events of the live channels and hand them to the subscriptions."""
        while True:
            with self._lock:
                channels = list(self._index)
                generation = self._generation
                after = self._dispatch_cursor
            if not channels:
                return
            events, cursor = read_after(channels, after, DISPATCH_PAGE, self.engine)
            with self._lock:
                for event in events:
                    for sub in self._index.get(event.channel, ()):
                        sub.offer(event)
                changed = generation != self._generation
                if not changed:
                    self._dispatch_cursor = max(self._dispatch_cursor, cursor)
            # A new channel went live meanwhile: read again from the old position with it.
            if not changed and len(events) < DISPATCH_PAGE:
                return

    def _redis_listen(self, stop: threading.Event) -> None:
        notifiers.redis_listen(
            self.app.config["JUNCTION_REDIS_URL"],
            self.redis_channel,
            self._on_message,
            self._wake.set,  # catch up on anything published while we were not listening
            stop,
            self._listen_health,
        )

    def _pg_listen(self, stop: threading.Event) -> None:
        url = libpq_conninfo(self.app.config["SQLALCHEMY_DATABASE_URI"])
        notifiers.pg_listen(url, self.pg_channel, self._on_message, self._wake.set, stop)

    def _on_message(self, payload: bytes | str) -> None:
        text = payload.decode() if isinstance(payload, bytes) else payload
        number, _, channel = text.partition(" ")
        try:
            self.notified(channel, int(number))
        except ValueError:
            log.debug("events: ignoring malformed notification %r", text)

    def shutdown(self) -> None:
        """Close every subscription and stop the threads (tests, embedding)."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.close()
        with self._lock:
            if self._stop is not None:
                self._stop.set()
                self._stop = None
        self._wake.set()


_HUBS: weakref.WeakSet[Hub] = weakref.WeakSet()


def get_hub(app: Flask | None = None) -> Hub:
    """The app's hub (made by :func:`init_app`, or on first use)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    state = junction_state(app)
    hub = state.events
    if hub is None:
        hub = state.events = Hub(app)
        _HUBS.add(hub)
    return hub


def close_streams() -> None:
    """Close every subscription of this process (its streams end, clients reconnect elsewhere
    with their last id). For a worker that is shutting down, and for tests."""
    for hub in list(_HUBS):
        hub.shutdown()


# -- publishing and subscribing ------------------------------------------------------------------


def publish(channel: str, type: str, data: dict, *, project: str | None = None) -> int:
    """Append an event to the log in its own transaction and wake subscribers; return its id.

    Needs an app context. Call it after committing your own changes: on SQLite the append waits
    for the database's write lock, which an open write transaction of the caller would hold.
    """
    if not channel or len(channel) > 255:
        raise ValueError("channel must be 1..255 characters")
    hub = get_hub()
    payload = json.loads(json.dumps(data, default=str))  # fail here, not in a reader
    pg_notify = hub.pg_channel if hub.kind == "postgres" else None
    event_id = append(channel, type, payload, project, pg_notify)
    hub.published(channel, event_id)
    return event_id


def subscribe(
    channels: Iterable[str],
    after: int | None = None,
    *,
    queue_size: int | None = None,
    wake: threading.Event | None = None,
) -> Subscription:
    """Follow ``channels`` from the event after ``after`` (``None``: from now on).

    Needs an app context. The subscription replays the log, then receives live events through a
    queue of ``queue_size`` (default ``EVENTS_QUEUE_SIZE``) events.
    """
    channels = [c for c in dict.fromkeys(channels) if c]
    if not channels:
        raise ValueError("subscribe to at least one channel")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    hub = get_hub(app)
    start = head_id(hub.engine) if after is None else max(int(after), 0)
    size = int(queue_size or app.config["JUNCTION_EVENTS_QUEUE_SIZE"])
    sub = Subscription(hub, channels, start, size, wake)
    hub.register(sub)
    return sub
