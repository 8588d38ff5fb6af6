"""The event log: its table, the items handed to consumers, appending, reading and retention.

Ids are strictly increasing *in commit order*: on PostgreSQL every append takes one
transaction-level advisory lock before it draws its id, so a reader that sees id ``n`` also sees
every smaller id that will ever exist (SQLite serialises writers by itself). Readers rely on that
to advance their cursor past events of channels they do not follow (see ``docs/events.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, UTCDateTime, db, utcnow
from app.events.wire import text_frame

log = logging.getLogger("app.events")

REPLAY_PAGE = 500
DISPATCH_PAGE = 1000
# A notification carries the whole event when its JSON is at most this long (PostgreSQL's NOTIFY
# payload limit is 8000 bytes); a bigger event is announced by id and read from the log.
NOTIFY_PAYLOAD_LIMIT = 7900

# One advisory-lock key for every append (a 64-bit hash, so it does not collide with the
# scheduler's or the operations' locks).
_APPEND_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"junction:events:append").digest()[:8], "big", signed=True
)


class Event(Model):
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


# -- items handed to consumers ------------------------------------------------------------------


class LogEvent:
    """An event read from the log, shared by every subscription it is handed to.

    The JSON text and the WebSocket frame are made once (lazily) and reused for every client.
    """

    __slots__ = ("_frame", "_json", "channel", "created_at", "data", "id", "project", "type")

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
        self._frame: bytes | None = None

    @classmethod
    def from_json(cls, text: str) -> LogEvent:
        """The event from its own :meth:`json` (as a notification carries it)."""
        body = json.loads(text)
        event = cls(
            int(body["id"]),
            str(body["channel"]),
            str(body["type"]),
            body["data"],
            body["project"],
            dt.datetime.fromisoformat(body["created_at"]),
        )
        event._json = text
        return event

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

    def frame(self) -> bytes:
        """The event as one WebSocket text frame (cached; the same bytes for every client)."""
        if self._frame is None:
            self._frame = text_frame(self.json())
        return self._frame

    def notification(self) -> str:
        """What a notifier carries: the event's JSON, or ``"<id> <channel>"`` when too big."""
        text = self.json()
        if len(text) <= NOTIFY_PAYLOAD_LIMIT:
            return text
        return f"{self.id} {self.channel}"


def parse_notification(payload: bytes | str) -> LogEvent | tuple[int, str]:
    """A notification's event (when it carries one) or its ``(id, channel)``; ``ValueError``
    when it is neither."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    if text.startswith("{"):
        try:
            return LogEvent.from_json(text)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an event: {exc}") from None
    number, _, channel = text.partition(" ")
    return int(number), channel


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


def append(
    channel: str, type: str, data: Any, project: str | None, pg_notify: str | None = None
) -> int:
    """Append one event in its own transaction and return its id (see :func:`append_event`)."""
    return append_event(channel, type, data, project, pg_notify).id


def append_event(
    channel: str, type: str, data: Any, project: str | None, pg_notify: str | None = None
) -> LogEvent:
    """Append one event in its own transaction and return it as subscribers receive it.

    ``data`` must already be plain JSON (``publish`` normalises it). ``pg_notify`` names the
    PostgreSQL channel to ``NOTIFY`` inside the same transaction (so the notification is
    delivered at commit, never for a rollback); it carries the event itself when small.
    """
    engine = db.engine
    created_at = utcnow()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise appends: the id is drawn while holding the lock and the lock is released
            # at commit, so ids become visible in increasing order (see module docstring).
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_APPEND_LOCK_KEY)))
        event_id = conn.execute(
            _table.insert()
            .values(channel=channel, type=type, data=data, project=project, created_at=created_at)
            .returning(_table.c.id)
        ).scalar_one()
        event = LogEvent(int(event_id), channel, type, data, project, created_at)
        if pg_notify is not None:
            conn.execute(sa.select(sa.func.pg_notify(pg_notify, event.notification())))
    return event


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
    config = current_app.config
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=int(config["JUNCTION_EVENTS_RETENTION_SECONDS"]))
    keep = int(config["JUNCTION_EVENTS_RETENTION_COUNT"])
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
