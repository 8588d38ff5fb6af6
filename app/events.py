"""The event log, its notifiers and subscriptions.

``publish()`` appends an event to the ``events`` table in its own short transaction and then
wakes subscribers. A wake-up carries only ``(channel, id)``: subscribers always read the events
themselves from the log, so a lost notification delays an event (until the next low-rate poll)
but never loses it, and a reconnecting client replays from the id it last saw.

Ids are strictly increasing *in commit order*: on PostgreSQL every append takes one
transaction-level advisory lock before it draws its id, so a reader that sees id ``n`` also sees
every smaller id that will ever exist (SQLite serialises writers by itself). Readers rely on that
to advance their cursor past events of channels they do not follow (see ``docs/events.md``).

Per process and app there is one :class:`Hub`: a dispatcher thread reads new events of every
followed channel once and hands them to the subscriptions' bounded queues; a full queue drops
the event and records a *gap* that the consumer sees as a ``dropped`` notice (never silently).
The notifier carries wake-ups between processes: ``memory`` (in-process only, other processes
find events by polling), ``redis`` (pub/sub) or ``postgres`` (LISTEN/NOTIFY).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, db, utcnow

log = logging.getLogger(__name__)

EXTENSION = "junction.events"

# Options with their defaults. Each is read from ``app.config["JUNCTION_<NAME>"]`` when set
# (tests and embedding set those directly), else from the resolved configuration
# (``app.config["JUNCTION"]``, for the keys app/config.py declares), else the default below.
DEFAULTS: dict[str, Any] = {
    "EVENTS_HEARTBEAT_SECONDS": 25.0,
    "EVENTS_QUEUE_SIZE": 100,
    # The safety net: how often the dispatcher re-reads the log without a notification.
    "EVENTS_POLL_SECONDS": 1.0,
    # How long a WebSocket waits for the client's optional first {"last_event_id": N} message.
    "EVENTS_WS_RESUME_WAIT": 1.0,
    "EVENTS_REDIS_CHANNEL": "junction:events",
    "EVENTS_PG_CHANNEL": "junction_events",
    "EVENTS_PRUNE_INTERVAL": 300,
}

REPLAY_PAGE = 500
DISPATCH_PAGE = 1000

# One advisory-lock key for every append (a 64-bit hash, so it does not collide with the
# scheduler's or the operations' locks).
_APPEND_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"junction:events:append").digest()[:8], "big", signed=True
)


class Event(db.Model):
    """One row of the event log."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_channel_id", "channel", "id"),
        sa.Index("ix_events_created_at", "created_at"),
        # AUTOINCREMENT: SQLite must never reuse the id of a deleted (pruned) newest row.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    project: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        """The event as subscribers receive it."""
        return {
            "id": self.id,
            "channel": self.channel,
            "type": self.type,
            "data": self.data,
            "project": self.project,
            "created_at": self.created_at.isoformat(),
        }


_table = Event.__table__
_COLUMNS = (_table.c.id, _table.c.channel, _table.c.type, _table.c.data, _table.c.project)


# -- configuration -------------------------------------------------------------------------------


def option(name: str, app: Flask | None = None) -> Any:
    """The value of an events option (see :data:`DEFAULTS`) for ``app`` or the current app."""
    app = app or current_app
    # A per-app override (tests, embedding) wins over the configuration keys.
    override = app.config.get(f"JUNCTION_{name}")
    if override is not None:
        return override
    declared = app.config.get("JUNCTION", {}).get(name)
    return declared if declared is not None else DEFAULTS[name]


def notifier_kind(app: Flask | None = None) -> str:
    """The notifier in use: ``memory``, ``redis`` or ``postgres``.

    ``auto`` picks Redis when ``JUNCTION_REDIS_URL`` is set, else PostgreSQL NOTIFY when the
    database is PostgreSQL, else the in-process notifier.
    """
    app = app or current_app
    config = app.config["JUNCTION"]
    kind = config.get("EVENTS_NOTIFIER", "auto")
    if kind != "auto":
        return kind
    if config.get("REDIS_URL"):
        return "redis"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return "postgres"
    return "memory"


# -- items handed to consumers ------------------------------------------------------------------


class LogEvent:
    """An event read from the log, shared by every subscription it is handed to.

    The JSON text is made once (lazily) and reused for every WebSocket/SSE client.
    """

    __slots__ = ("_json", "channel", "created_at", "data", "id", "project", "type")

    def __init__(
        self,
        id: int,
        channel: str,
        type: str,
        data: Any,
        project: str | None,
        created_at: dt.datetime,
    ) -> None:
        self.id = id
        self.channel = channel
        self.type = type
        self.data = data
        self.project = project
        self.created_at = created_at
        self._json: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """``{id, channel, type, data, project, created_at}`` (created_at in ISO 8601)."""
        return {
            "id": self.id,
            "channel": self.channel,
            "type": self.type,
            "data": self.data,
            "project": self.project,
            "created_at": self.created_at.isoformat(),
        }

    def json(self) -> str:
        """The event as compact JSON (cached)."""
        if self._json is None:
            self._json = json.dumps(self.as_dict(), separators=(",", ":"), default=str)
        return self._json


class Gap:
    """``count`` events from ``next_id`` on were dropped because the queue was full."""

    __slots__ = ("count", "next_id")

    def __init__(self, next_id: int) -> None:
        self.next_id = next_id
        self.count = 1

    def as_dict(self) -> dict[str, Any]:
        """The ``dropped`` notice: replay from ``next_id - 1`` to fetch the missed events."""
        return {"type": "dropped", "count": self.count, "next_id": self.next_id}

    def json(self) -> str:
        """The notice as compact JSON."""
        return json.dumps(self.as_dict(), separators=(",", ":"))


Item = LogEvent | Gap


# -- the log -------------------------------------------------------------------------------------


def publish(channel: str, type: str, data: dict, *, project: str | None = None) -> int:
    """Append an event to the log in its own transaction and wake subscribers; return its id.

    Needs an app context. Call it after committing your own changes: on SQLite the append waits
    for the database's write lock, which an open write transaction of the caller would hold.
    """
    if not channel or len(channel) > 255:
        raise ValueError("channel must be 1..255 characters")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    hub = get_hub(app)
    engine = db.engine
    payload = json.loads(json.dumps(data, default=str))  # fail here, not in a reader
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise appends: the id is drawn while holding the lock and the lock is released
            # at commit, so ids become visible in increasing order (see module docstring).
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_APPEND_LOCK_KEY)))
        event_id = conn.execute(
            _table.insert()
            .values(channel=channel, type=type, data=payload, project=project, created_at=utcnow())
            .returning(_table.c.id)
        ).scalar_one()
        if hub.kind == "postgres":
            # Inside the transaction: NOTIFY is delivered at commit, never for a rollback.
            conn.execute(sa.select(sa.func.pg_notify(hub.pg_channel, f"{event_id} {channel}")))
    hub.published(channel, event_id)
    return int(event_id)


def head_id(engine: Engine | None = None) -> int:
    """The newest event id (0 when the log is empty)."""
    engine = engine or db.engine
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.max(_table.c.id))) or 0)


def read_after(
    channels: Iterable[str], after: int, limit: int, engine: Engine | None = None
) -> tuple[list[LogEvent], int]:
    """Events of ``channels`` with id > ``after``, oldest first, and the cursor to continue from.

    The cursor passes over events of other channels: when fewer than ``limit`` events match,
    it is the newest id that existed when the read began (every smaller id is committed, so
    nothing of ``channels`` below it can appear later).
    """
    engine = engine or db.engine
    channels = list(channels)
    with engine.connect() as conn:
        head = int(conn.scalar(sa.select(sa.func.max(_table.c.id))) or 0)
        if head <= after or not channels:
            return [], max(after, head) if channels else after
        rows = conn.execute(
            sa.select(*_COLUMNS, _table.c.created_at)
            .where(_table.c.id > after, _table.c.id <= head, _table.c.channel.in_(channels))
            .order_by(_table.c.id)
            .limit(limit)
        ).all()
    events = [LogEvent(*row) for row in rows]
    cursor = events[-1].id if len(events) == limit else head
    return events, cursor


def prune(now: dt.datetime | None = None) -> int:
    """Apply retention: delete events older than ``EVENTS_RETENTION_SECONDS`` and all but the
    newest ``EVENTS_RETENTION_COUNT`` of each channel. Returns the number of rows deleted.

    The newest event of the whole log is always kept, so ids never restart from a lower value.
    """
    config = current_app.config["JUNCTION"]
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=int(config["EVENTS_RETENTION_SECONDS"]))
    keep = int(config["EVENTS_RETENTION_COUNT"])
    deleted = 0
    with db.engine.begin() as conn:
        newest = conn.scalar(sa.select(sa.func.max(_table.c.id)))
        if newest is None:
            return 0
        deleted += conn.execute(
            _table.delete().where(_table.c.created_at < cutoff, _table.c.id < newest)
        ).rowcount
        crowded = conn.execute(
            sa.select(_table.c.channel).group_by(_table.c.channel).having(sa.func.count() > keep)
        ).scalars()
        for channel in list(crowded):
            oldest_kept = conn.scalar(
                sa.select(_table.c.id)
                .where(_table.c.channel == channel)
                .order_by(_table.c.id.desc())
                .offset(keep - 1)
                .limit(1)
            )
            deleted += conn.execute(
                _table.delete().where(_table.c.channel == channel, _table.c.id < oldest_kept)
            ).rowcount
    if deleted:
        log.info("events retention removed %d event(s)", deleted)
    return deleted


# -- subscriptions -------------------------------------------------------------------------------


class Subscription:
    """A consumer's view of some channels: replay from a cursor, then live, bounded.

    Use :meth:`get` (a batch, waiting up to ``timeout``) or iterate (blocking forever; items are
    event dicts and ``{"type": "dropped", "count", "next_id"}`` notices). Close it when done.
    Not thread-safe for several consumers; the hub feeds it from its own thread.
    """

    def __init__(
        self,
        hub: Hub,
        channels: Iterable[str],
        after: int,
        queue_size: int,
        wake: threading.Event | None = None,
    ) -> None:
        self.hub = hub
        self.channels = frozenset(channels)
        self.queue_size = queue_size
        #: The id of the last event queued, dropped or replayed.
        self.cursor = after
        #: Events dropped so far because the queue was full.
        self.dropped = 0
        self.closed = False
        self._queue: deque[Item] = deque()
        self._queued_events = 0
        self._lock = threading.Lock()
        # The consumer may share its wake-up event (a WebSocket wakes on incoming messages too).
        self._wake = wake or threading.Event()
        self._live = False

    # -- hub side --

    def offer(self, event: LogEvent) -> None:
        """Queue ``event`` (called by the hub's dispatcher); a full queue records a gap."""
        if event.id <= self.cursor:
            return
        with self._lock:
            self.cursor = event.id
            if self._queued_events >= self.queue_size:
                self.dropped += 1
                last = self._queue[-1] if self._queue else None
                if isinstance(last, Gap):
                    last.count += 1
                else:
                    self._queue.append(Gap(event.id))
            else:
                self._queue.append(event)
                self._queued_events += 1
        self._wake.set()

    # -- consumer side --

    @property
    def live(self) -> bool:
        """Whether the replay is over and the hub feeds this subscription."""
        return self._live

    def get_items(self, timeout: float | None = None) -> list[Item]:
        """The next batch of :class:`LogEvent` / :class:`Gap`; ``[]`` after ``timeout`` or when
        woken for another reason (a shared wake event)."""
        if self.closed:
            return []
        if not self._live:
            items = self._replay()
            if items or not self._live:
                return items
        with self._lock:
            if self._queue:
                return self._drain()
        self._wake.wait(timeout)
        self._wake.clear()
        with self._lock:
            return self._drain()

    def get(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Like :meth:`get_items`, as dicts."""
        return [item.as_dict() for item in self.get_items(timeout)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self.closed:
            yield from self.get(timeout=1.0)

    def seek(self, after: int) -> None:
        """Restart from ``after``: drop what is queued and replay the log from there."""
        self.hub.rewind(self, after)

    def close(self) -> None:
        """Stop receiving; the hub forgets this subscription."""
        if not self.closed:
            self.closed = True
            self.hub.unregister(self)
            self._wake.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self) -> list[Item]:
        items = list(self._queue)
        self._queue.clear()
        self._queued_events = 0
        return items

    def _replay(self) -> list[Item]:
        # Read the log from the cursor; once a read comes back empty and the dispatcher has not
        # got ahead of us, switch to live (the hub checks that under its lock).
        for _ in range(5):
            events, cursor = read_after(self.channels, self.cursor, REPLAY_PAGE, self.hub.engine)
            self.cursor = max(self.cursor, cursor)
            if events:
                return list(events)
            if self.hub.go_live(self):
                return []
        return []

    def _reset(self, after: int) -> None:
        with self._lock:
            self._queue.clear()
            self._queued_events = 0
            self.cursor = after
            self._live = False
        self._wake.set()


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
    size = int(queue_size or option("EVENTS_QUEUE_SIZE", app))
    sub = Subscription(hub, channels, start, size, wake)
    hub.register(sub)
    return sub


# -- the hub: one per app and process -------------------------------------------------------------


class Hub:
    """Feeds the subscriptions of one app in one process, and owns its notifier."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.kind = notifier_kind(app)
        if self.kind == "redis" and not app.config["JUNCTION"].get("REDIS_URL"):
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
        return str(option("EVENTS_PG_CHANNEL", self.app))

    @property
    def redis_channel(self) -> str:
        """The Redis pub/sub channel."""
        return str(option("EVENTS_REDIS_CHANNEL", self.app))

    # -- publishing side --

    def published(self, channel: str, event_id: int) -> None:
        """An event was appended here: wake local subscribers and tell other processes."""
        self.notified(channel, event_id)
        if self.kind == "redis":
            try:
                self._redis_client().publish(self.redis_channel, f"{event_id} {channel}")
            except Exception as exc:  # the event is in the log: polling delivers it anyway
                log.warning("events: Redis notify failed (%s); subscribers will poll", exc)

    def notified(self, channel: str, event_id: int) -> None:
        """A notification arrived (local or remote): wake the dispatcher if it cares."""
        if channel in self._index and event_id > self._dispatch_cursor:
            self._wake.set()

    def _redis_client(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(
                self.app.config["JUNCTION"]["REDIS_URL"],
                socket_timeout=2,
                socket_connect_timeout=2,
                health_check_interval=30,
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
        poll = float(option("EVENTS_POLL_SECONDS", self.app))
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
        import redis

        url = self.app.config["JUNCTION"]["REDIS_URL"]
        backoff = 0.5
        while not stop.is_set():
            client = pubsub = None
            try:
                client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.redis_channel)
                self._wake.set()  # catch up on anything published while we were not listening
                backoff = 0.5
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self._on_message(message["data"])
            except Exception as exc:
                log.warning("events: Redis listener error (%s); retrying in %.1fs", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                for closeable in (pubsub, client):
                    if closeable is not None:
                        # Closing a broken connection may fail too.
                        with contextlib.suppress(Exception):
                            closeable.close()

    def _pg_listen(self, stop: threading.Event) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        backoff = 0.5
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'LISTEN "{self.pg_channel}"')
                    self._wake.set()
                    backoff = 0.5
                    while not stop.is_set():
                        for notice in conn.notifies(timeout=1.0):
                            self._on_message(notice.payload)
            except Exception as exc:
                log.warning("events: PostgreSQL listener error (%s); retrying", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

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
    hub = app.extensions.get(EXTENSION)
    if hub is None:
        hub = app.extensions[EXTENSION] = Hub(app)
        _HUBS.add(hub)
    return hub


def close_streams() -> None:
    """Close every subscription of this process (its streams end, clients reconnect elsewhere
    with their last id). For a worker that is shutting down, and for tests."""
    for hub in list(_HUBS):
        hub.shutdown()


# -- wiring -------------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Create the hub, register the events API and streams, and the retention job."""
    from app import scheduler, streams

    get_hub(app)
    streams.init_app(app)
    if hasattr(scheduler, "register_core_job"):
        scheduler.register_core_job(
            prune, seconds=float(option("EVENTS_PRUNE_INTERVAL", app)), id="events.prune"
        )


def stream_websocket(ws: Any, channels: Iterable[str], last_event_id: int | None = None) -> None:
    """Serve ``channels`` over an accepted WebSocket (see :func:`app.streams.stream_websocket`)."""
    from app.streams import stream_websocket as serve

    serve(ws, channels, last_event_id)


def sse_response(channels: Iterable[str], last_event_id: int | None = None) -> Response:
    """A ``text/event-stream`` response of ``channels`` (see :func:`app.streams.sse_response`)."""
    from app.streams import sse_response as respond

    return respond(channels, last_event_id)
