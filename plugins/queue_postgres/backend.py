"""The ``postgres`` build-queue backend: a table leased with ``FOR UPDATE SKIP LOCKED``.

- enqueue: ``INSERT ... ON CONFLICT (dedup_key) DO NOTHING`` (the unique key de-duplicates
  pending items), then ``NOTIFY queue_postgres_ready`` in the same transaction (sent at commit);
- lease: one ``UPDATE ... WHERE seq = (SELECT ... WHERE available_at <= now ORDER BY
  available_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED)``: concurrent leasers skip each other's
  rows instead of waiting, and the lease sets ``available_at`` to its deadline, so an expired
  lease is simply the next available row (no reaper);
- ack: ``DELETE`` where the token matches and the lease holds; nack: the same ``UPDATE`` back;
- :meth:`PostgresQueue.wait` blocks on ``LISTEN`` until an enqueue or nack (or a timeout), for
  idle workers.

Every operation is one statement, its own transaction, on a pooled autocommit connection.
"""

from __future__ import annotations

import json
import queue as queue_module
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from plugins.builds.queue_base import Clock, Lease, QueueItem, QueueStats
from plugins.queue_postgres.metrics import observe

CHANNEL = "queue_postgres_ready"
TABLE = "queue_postgres_items"
COUNTERS = "queue_postgres_counters"
_STORED = ("id", "package", "version", "python_tag", "platform_tag", "recipes", "enqueued_at")
_COLUMNS = "item, attempts, leased_until"

# Each operation is one statement (autocommit: one round trip, its own transaction); the
# NOTIFY rides in RETURNING so it is sent exactly when a row was added or given back.
ENQUEUE_SQL = f"""
INSERT INTO {TABLE} (id, dedup_key, item, enqueued_at, available_at, attempts)
VALUES (%(id)s, %(key)s, %(item)s, %(now)s, %(now)s, 0)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING {_COLUMNS}, pg_notify('{CHANNEL}', '')
"""
EXISTING_SQL = f"SELECT {_COLUMNS} FROM {TABLE} WHERE dedup_key = %(key)s"
LEASE_SQL = f"""
WITH leased AS (
    UPDATE {TABLE}
    SET lease_token = %(token)s, leased_until = %(deadline)s, available_at = %(deadline)s,
        attempts = attempts + 1, worker = %(worker)s
    WHERE seq = (
        SELECT seq FROM {TABLE} WHERE available_at <= %(now)s
        ORDER BY available_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    RETURNING {_COLUMNS}
), counted AS (
    INSERT INTO {COUNTERS} (name, value)
    SELECT 'redeliveries', 1 FROM leased WHERE attempts > 1
    ON CONFLICT (name) DO UPDATE SET value = {COUNTERS}.value + 1
)
SELECT {_COLUMNS} FROM leased
"""
ACK_SQL = f"""
DELETE FROM {TABLE}
WHERE id = %(id)s AND lease_token = %(token)s AND leased_until > %(now)s
"""
NACK_SQL = f"""
UPDATE {TABLE} SET lease_token = NULL, leased_until = NULL, available_at = %(available)s
WHERE id = %(id)s AND lease_token = %(token)s AND leased_until > %(now)s
RETURNING pg_notify('{CHANNEL}', '')
"""
STATS_SQL = f"""
SELECT (SELECT count(*) FROM {TABLE}),
       (SELECT count(*) FROM {TABLE} WHERE leased_until > %(now)s),
       (SELECT enqueued_at FROM {TABLE}
        WHERE leased_until IS NULL OR leased_until <= %(now)s ORDER BY seq LIMIT 1),
       (SELECT value FROM {COUNTERS} WHERE name = 'redeliveries')
"""
ITEMS_SQL = f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY seq LIMIT %(limit)s OFFSET %(offset)s"
CLEAR_SQL = f"WITH gone AS (DELETE FROM {TABLE} RETURNING 1) SELECT count(*) FROM gone"


def dedup_key(item: QueueItem) -> str:
    """The item's de-duplication key as one string."""
    return json.dumps(list(item.key), separators=(",", ":"))


class Pool:
    """A few autocommit psycopg connections shared by threads (one that failed is dropped)."""

    def __init__(self, conninfo: str, size: int = 4) -> None:
        self.conninfo = conninfo
        self._idle: queue_module.LifoQueue[psycopg.Connection[Any]] = queue_module.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit connection (each statement is its own transaction)."""
        self._slots.acquire()
        try:
            try:
                conn = self._idle.get_nowait()
            except queue_module.Empty:
                conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            try:
                yield conn
            except BaseException:
                conn.close()  # its state is unknown: never reuse it
                raise
            if self._closed:
                conn.close()
            else:
                self._idle.put(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue_module.Empty:
                return


class PostgresQueue:
    """The queue in table ``queue_postgres_items`` of the PostgreSQL at ``conninfo``."""

    name = "postgres"
    supports_clear = True

    def __init__(self, conninfo: str, clock: Clock | None = None, pool_size: int = 4) -> None:
        self.conninfo = conninfo
        self.clock = clock or time.time
        self.pool = Pool(conninfo, pool_size)
        self._listener: psycopg.Connection[Any] | None = None

    @staticmethod
    def _item(row: tuple[Any, ...], now: float) -> QueueItem:
        raw, attempts, leased_until = row
        item = QueueItem.from_dict(json.loads(raw))
        item.attempts = int(attempts)
        item.available_at = item.enqueued_at
        if leased_until is not None and leased_until > now:
            item.leased_until = float(leased_until)
        return item

    def enqueue(self, item: QueueItem) -> tuple[QueueItem, bool]:
        """Add ``item`` unless its key is queued or leased."""
        now = self.clock()
        item.enqueued_at = item.enqueued_at or now
        body = json.dumps({k: getattr(item, k) for k in _STORED}, separators=(",", ":"))
        params = {"id": item.id, "key": dedup_key(item), "item": body, "now": item.enqueued_at}
        for _ in range(3):  # the existing row may be acked between our insert and our select
            with self.pool.connection() as conn:
                row = conn.execute(ENQUEUE_SQL, params).fetchone()
                if row is not None:
                    return self._item(row[:3], now), True
                row = conn.execute(EXISTING_SQL, params).fetchone()
                if row is not None:
                    return self._item(row, now), False
        raise RuntimeError("enqueue kept racing with acks of the same key")

    def lease(self, worker: str, visibility_timeout: float) -> Lease | None:
        """The next available item (new, expired or past its delay), leased until
        ``now + visibility_timeout``."""
        now = self.clock()
        deadline = now + visibility_timeout
        token = secrets.token_hex(16)
        params = {"now": now, "deadline": deadline, "token": token, "worker": worker[:100]}
        with self.pool.connection() as conn:
            row = conn.execute(LEASE_SQL, params).fetchone()
        if row is None:
            return None
        return Lease(self._item(row, now), token, deadline)

    def ack(self, item_id: str, token: str) -> bool:
        """Delete a leased item whose lease ``token`` still holds."""
        with self.pool.connection() as conn:
            cursor = conn.execute(ACK_SQL, {"id": item_id, "token": token, "now": self.clock()})
            return cursor.rowcount == 1

    def nack(self, item_id: str, token: str, delay: float = 0.0) -> bool:
        """Give a leased item back, available again after ``delay`` seconds."""
        now = self.clock()
        params = {"id": item_id, "token": token, "now": now, "available": now + max(0.0, delay)}
        with self.pool.connection() as conn:
            return conn.execute(NACK_SQL, params).rowcount == 1

    def stats(self) -> QueueStats:
        """Waiting and leased counts, the oldest waiting item's enqueue time, redeliveries."""
        now = self.clock()
        with self.pool.connection() as conn:
            row = conn.execute(STATS_SQL, {"now": now}).fetchone()
        assert row is not None
        total, in_flight, oldest, redeliveries = row
        stats = QueueStats(
            backend=self.name,
            length=int(total) - int(in_flight),
            in_flight=int(in_flight),
            oldest_enqueued_at=None if oldest is None else float(oldest),
            supports_clear=True,
            redeliveries=int(redeliveries or 0),
        )
        observe(stats, now)
        return stats

    def items(self, limit: int, offset: int) -> list[QueueItem]:
        """Queued and leased items in enqueue order."""
        now = self.clock()
        with self.pool.connection() as conn:
            rows = conn.execute(ITEMS_SQL, {"limit": limit, "offset": offset}).fetchall()
        return [self._item(row, now) for row in rows]

    def clear(self) -> int:
        """Delete every item."""
        with self.pool.connection() as conn:
            row = conn.execute(CLEAR_SQL).fetchone()
        return int(row[0]) if row else 0

    def wait(self, timeout: float) -> bool:
        """Block until an item is enqueued or given back (``NOTIFY``), at most ``timeout``
        seconds; ``True`` when woken. Idle workers call it between empty leases."""
        if self._listener is None:
            self._listener = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            self._listener.execute(f"LISTEN {CHANNEL}")
        for _notice in self._listener.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    def ping(self) -> bool:
        """Whether the server answers and the table is there."""
        with self.pool.connection() as conn:
            conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1")
        return True

    def describe(self) -> dict[str, Any]:
        """Where the queue lives, for ``GET /api/builds/config`` (no credentials)."""
        info = conninfo_to_dict(self.conninfo)
        return {
            "database": {k: info.get(k) for k in ("host", "port", "dbname")},
            "table": TABLE,
            "listen_channel": CHANNEL,
        }

    def close(self) -> None:
        """Close the pooled and listening connections."""
        self.pool.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
