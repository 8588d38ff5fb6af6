"""The hub: one per app and process, it feeds the subscriptions and owns the notifier.

One dispatcher thread per process hands new events of every followed channel to the
subscriptions. On the hot path the event itself arrives through the notifier (the publishing
process pushes it to its own dispatcher in memory, other processes get it over Redis pub/sub or
PostgreSQL NOTIFY) and the log is not read: an event whose id follows the dispatcher's cursor is
handed out at once. The log stays the source of truth: a gap in the ids (a notification lost,
late, too big to carry the event, or from a process with another notifier), a bare wake-up and
the low-rate safety-net poll all make the dispatcher read the log from its cursor instead, and
replay (``last_event_id``) always reads the log.

A full subscription queue drops the event and records a *gap* that the consumer sees as a
``dropped`` notice (never silently). WebSocket subscriptions get live events written straight
to their sockets by the dispatcher (:mod:`app.events.wire`), without waking their threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine

from app import redislink
from app.db import db, libpq_conninfo
from app.events import notifiers
from app.events.log import (
    DISPATCH_PAGE,
    LogEvent,
    parse_notification,
    read_after,
)
from app.events.subscriptions import Subscription
from app.redislink import LinkHealth
from app.state import current_app_object, junction_state

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
        # Events pushed by notifications, and whether the log must be read on the next round.
        self._inbox: deque[LogEvent] = deque()
        self._read_log = True
        #: New streams are refused once the process is shutting down.
        self.closing = False
        #: Streams (WebSocket or SSE) open in this process, counted by :meth:`open_stream`.
        self.open_streams = 0
        self._stop: threading.Event | None = None
        self._pid = 0
        self._engine: Engine | None = None
        self._redis: Any = None
        self._local_socket: Path | None = None  # this process's wake-up socket (``local``)
        self._local_folder: Path | None = None
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
    def local_folder(self) -> Path:
        """The folder of the ``local`` notifier's sockets (one per database), made once: every
        publish reads it."""
        if self._local_folder is None:
            uri = str(self.app.config["SQLALCHEMY_DATABASE_URI"])
            self._local_folder = notifiers.local_folder(uri)
        return self._local_folder

    @property
    def redis_channel(self) -> str:
        """The Redis pub/sub channel."""
        return str(self.app.config["JUNCTION_EVENTS_REDIS_CHANNEL"])

    # -- publishing side --

    def published(self, event: LogEvent) -> None:
        """An event was appended here: hand it to local subscribers and tell other processes."""
        self.pushed(event)
        if self.kind == "local":
            notifiers.local_notify(self.local_folder, event.notification(), self._local_socket)
        elif self.kind == "redis":
            # After a failure Redis is left alone for a few seconds: a cut link would otherwise
            # hold every publisher for the socket timeout.
            if not self._publish_health.healthy and time.monotonic() < self._publish_retry_at:
                return
            try:
                self._redis_client().publish(self.redis_channel, event.notification())
            except Exception as exc:  # the event is in the log: polling delivers it anyway
                self._publish_retry_at = time.monotonic() + PUBLISH_RETRY_AFTER
                self._publish_health.failed(exc)
            else:
                self._publish_health.ok()

    def pushed(self, event: LogEvent) -> None:
        """A notification carried ``event``: the dispatcher hands it out without reading the
        log (unless its id leaves a gap)."""
        if event.id > self._dispatch_cursor and self._stop is not None:
            self._inbox.append(event)
            self._wake.set()

    def notified(self, channel: str, event_id: int) -> None:
        """A bare wake-up arrived (``id channel``): read the log if the dispatcher cares."""
        if channel in self._index and event_id > self._dispatch_cursor:
            self._read_log = True
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
        """Add a subscription (it starts replaying) and make sure the threads run; once the
        process is shutting down the subscription starts closed (its stream ends at once)."""
        with self._lock:
            if self.closing:
                sub.closed = True
                return
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
        self._read_log = True
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
        self._inbox.clear()
        self._read_log = True
        threading.Thread(
            target=self._dispatch_loop, args=(stop,), name="junction-events-dispatch", daemon=True
        ).start()
        listener = {
            "local": self._local_listen,
            "redis": self._redis_listen,
            "postgres": self._pg_listen,
        }.get(self.kind)
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
                self._round()
                failures = 0
            except Exception:
                failures += 1
                self._read_log = True
                log.exception("events: reading the log failed (attempt %d)", failures)
                stop.wait(min(30.0, poll * 2**failures))
                continue
            # Cleared before the next round drains the inbox, so no push is left waiting.
            woken = self._wake.wait(poll)
            self._wake.clear()
            if not woken:
                self._read_log = True  # the safety net: a lost notification waits this long

    def _round(self) -> None:
        """Hand out the pushed events that follow the cursor; read the log when asked to or
        when the pushed ids leave a gap."""
        pushed: list[LogEvent] = []
        while self._inbox:
            pushed.append(self._inbox.popleft())
        pushed.sort(key=lambda event: event.id)
        for event in pushed:
            if self._read_log:
                self._read_log = False
                self._dispatch()
            with self._lock:
                if event.id <= self._dispatch_cursor:
                    continue  # already read from the log, or a duplicate
                if event.id == self._dispatch_cursor + 1:
                    for sub in self._index.get(event.channel, ()):
                        sub.offer(event, direct=True)
                    self._dispatch_cursor = event.id
                    continue
            # An id in between was not pushed (lost, late, or never notified): the log has it,
            # and this event too, since it was committed before it was announced.
            self._dispatch()
        if self._read_log:
            self._read_log = False
            self._dispatch()

    def _dispatch(self) -> None:
        """Read new events of the live channels from the log and hand them out."""
        while True:
            with self._lock:
                channels = list(self._index)
                generation = self._generation
                after = self._dispatch_cursor
            if not channels:
                return  # nobody is live; ``go_live`` moves the cursor to the first who is
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
            self._catch_up,
            stop,
            self._listen_health,
        )

    def _local_listen(self, stop: threading.Event) -> None:
        def bound(path: Path | None) -> None:
            self._local_socket = path

        notifiers.local_listen(self.local_folder, self._on_message, self._catch_up, stop, bound)

    def _pg_listen(self, stop: threading.Event) -> None:
        url = libpq_conninfo(self.app.config["SQLALCHEMY_DATABASE_URI"])
        notifiers.pg_listen(url, self.pg_channel, self._on_message, self._catch_up, stop)

    def _catch_up(self) -> None:
        # The listener (re)subscribed: read what was published while nobody listened.
        self._read_log = True
        self._wake.set()

    def _on_message(self, payload: bytes | str) -> None:
        try:
            parsed = parse_notification(payload)
        except ValueError:
            log.debug("events: ignoring malformed notification %r", payload[:200])
            return
        if isinstance(parsed, LogEvent):
            self.pushed(parsed)
        else:
            self.notified(parsed[1], parsed[0])

    def open_stream(self, limit: int) -> bool:
        """Count one more open stream unless ``limit`` are open or the process is closing."""
        with self._lock:
            if self.closing or self.open_streams >= limit:
                return False
            self.open_streams += 1
            return True

    def close_stream(self) -> None:
        """Count one stream less (each :meth:`open_stream` that succeeded, exactly once)."""
        with self._lock:
            self.open_streams -= 1

    def shutdown(self, final: bool = False) -> None:
        """Close every subscription (their streams end) and stop the threads; with ``final``
        (the process is exiting) refuse new streams too."""
        with self._lock:
            if final:
                self.closing = True
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
    app = app or current_app_object()
    state = junction_state(app)
    hub = state.service(Hub)
    if hub is None:
        hub = state.set_service(Hub, Hub(app))
        _HUBS.add(hub)
    return hub


def close_streams(final: bool = False) -> None:
    """Close every subscription of this process (its streams end, clients reconnect elsewhere
    with their last id). For a worker that is shutting down (``final``: new streams get 503
    from now on), and for tests."""
    for hub in list(_HUBS):
        hub.shutdown(final)
