"""The ``redis`` build-queue backend: a reliable queue in Redis (redis-py, Lua scripts).

Enqueue stores the item's record, its de-duplication key and its place in line in one script;
lease returns expired leases and due delayed items (when the ``timers`` sorted set has any due),
pops the head of the ready list and writes the lease's token and deadline into the item's record
and ``timers`` in the same script, so a lease is an atomic move from ``ready`` into the
processing structure. Nothing is lost when a worker dies: its lease expires and whoever leases
(or asks for statistics) next puts the item back at the head of the line. Listing and
statistics read ranges (``ZRANGE``), never ``KEYS``; clear uses ``UNLINK``. See
:mod:`plugins.queue_redis.scripts` for the keys.

Each operation is one ``EVALSHA`` with one key, the hash tag ``{prefix}``, and three or four
arguments. The client's own work per call (encoding arguments, parsing the reply, building the
item) is a good part of an operation's cost, so replies carry only what the caller lacks
(``enqueue`` of a new item answers ``1``; ``lease`` the item's record) and are not decoded to
``str``; JSON is encoded once per enqueue, by one prepared encoder. The scripts are redis-py
``Script`` objects (their SHA1, and loading them), but called through ``execute_command``:
``Script.__call__`` costs ~12 µs a call here (an import statement, tuple copies, its wrappers),
a tenth of an operation; on ``NOSCRIPT`` (a restarted or flushed server) the ``Script`` loads
itself and runs.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync everysec`` an acknowledged
enqueue survives a Redis crash except for its last second; ``appendfsync always`` closes that.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from app.redaction import address_only
from plugins.builds.queue_base import Clock, Lease, QueueItem, QueueStats
from plugins.queue_redis import links, scripts
from plugins.queue_redis.metrics import observe

DEFAULT_PREFIX = "junction:builds:queue"
_STORED = ("id", "package", "version", "python_tag", "platform_tag", "recipes", "enqueued_at")


_compact = json.JSONEncoder(separators=(",", ":")).encode  # made once, not per call


def dedup_key(item: QueueItem) -> str:
    """The item's de-duplication key as one string."""
    return _compact(item.key)


class RedisQueue:
    """A queue under ``prefix`` in the Redis at ``url`` (see the module docstring); ``client``,
    when given, must not decode responses (``decode_responses=False``, redis-py's default)."""

    name = "redis"
    supports_clear = True

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.clock = clock or time.time
        self.client = client or redis.Redis.from_url(url, **links.client_options())
        self.keys = scripts.key_names(prefix)  # every key, for whoever removes the queue
        self._tag = "{" + prefix + "}"  # the one key each script gets
        self._enqueue = self.client.register_script(scripts.ENQUEUE)
        self._lease = self.client.register_script(scripts.LEASE)
        self._ack = self.client.register_script(scripts.ACK)
        self._nack = self.client.register_script(scripts.NACK)
        self._stats = self.client.register_script(scripts.STATS)
        self._items = self.client.register_script(scripts.ITEMS)
        self._clear = self.client.register_script(scripts.CLEAR)

    def _run(self, script: Script, *args: Any) -> Any:
        """``EVALSHA`` of ``script`` with the tag as its key (loading it on ``NOSCRIPT``)."""
        try:
            return self.client.execute_command("EVALSHA", script.sha, 1, self._tag, *args)
        except NoScriptError:
            return script(keys=[self._tag], args=args)

    @staticmethod
    def _item(record: bytes, now: float) -> QueueItem:
        """The item of a record (``attempts \\t token \\t deadline \\t key \\t JSON``)."""
        attempts, token, deadline, _key, body = record.split(b"\t", 4)
        data = json.loads(body)
        try:
            item = QueueItem(**data)
        except TypeError:  # a field this version does not know (written by a newer one)
            item = QueueItem.from_dict(data)
        item.attempts = int(attempts)
        item.available_at = item.enqueued_at
        if token and float(deadline) > now:
            item.leased_until = float(deadline)
        return item

    def enqueue(self, item: QueueItem) -> tuple[QueueItem, bool]:
        """Add ``item`` unless its key is queued or leased."""
        now = self.clock()
        item.enqueued_at = item.enqueued_at or now
        body = _compact({k: getattr(item, k) for k in _STORED})
        found = self._run(self._enqueue, item.id, dedup_key(item), body)
        if found == 1:
            item.attempts, item.leased_until, item.available_at = 0, None, item.enqueued_at
            return item, True
        return self._item(found, now), False

    def lease(self, worker: str, visibility_timeout: float) -> Lease | None:
        """The head of the line, leased until ``now + visibility_timeout``."""
        now = self.clock()
        deadline = now + visibility_timeout
        token = secrets.token_hex(16)
        found = self._run(self._lease, repr(now), repr(deadline), token)
        if not found:
            return None
        return Lease(self._item(found, now), token, deadline)

    def ack(self, item_id: str, token: str) -> bool:
        """Remove a leased item whose lease ``token`` still holds."""
        return bool(self._run(self._ack, item_id, token, repr(self.clock())))

    def nack(self, item_id: str, token: str, delay: float = 0.0) -> bool:
        """Give a leased item back, available again after ``delay`` seconds."""
        now = self.clock()
        return bool(self._run(self._nack, item_id, token, repr(now), repr(now + max(0.0, delay))))

    def stats(self) -> QueueStats:
        """Waiting and leased counts, the oldest waiting item's age, redeliveries."""
        now = self.clock()
        waiting, in_flight, oldest, redeliveries = self._run(self._stats, repr(now))
        stats = QueueStats(
            backend=self.name,
            length=int(waiting),
            in_flight=int(in_flight),
            oldest_enqueued_at=self._item(oldest, now).enqueued_at if oldest else None,
            supports_clear=True,
            redeliveries=int(redeliveries),
        )
        observe(stats, now)
        return stats

    def items(self, limit: int, offset: int) -> list[QueueItem]:
        """Queued and leased items in enqueue order (one ``ZRANGE``)."""
        if limit <= 0:
            return []
        now = self.clock()
        records = self._run(self._items, int(offset), int(limit))
        return [self._item(record, now) for record in records if record]

    def clear(self) -> int:
        """Remove every item (memory freed in the background)."""
        return int(self._run(self._clear))

    def ping(self) -> bool:
        """Whether the server answers."""
        return bool(self.client.ping())

    def describe(self) -> dict[str, Any]:
        """The backend's settings for ``GET /api/builds/config`` (no credentials)."""
        return {"url": address_only(self.url), "prefix": self.prefix}

    def close(self) -> None:
        """Release the connection pool."""
        self.client.close()
