"""The ``redis`` build-queue backend: a reliable queue in Redis (redis-py, Lua scripts).

Enqueue stores the item, its de-duplication key and its place in line in one script; lease
reaps expired leases and due delayed items, pops the head of the ready list and records the
lease's deadline and token in the same script, so a lease is an atomic move from ``ready`` into
the ``leases`` sorted set. Nothing is lost when a worker dies: its lease expires and whoever
leases (or asks for statistics) next puts the item back at the head of the line. Listing and
statistics read ranges (``ZRANGE``), never ``KEYS``; clear uses ``UNLINK``. See
:mod:`plugins.queue_redis.scripts` for the keys.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync everysec`` an acknowledged
enqueue survives a Redis crash except for its last second; ``appendfsync always`` closes that.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import redis

from plugins.builds.queue_base import Clock, Lease, QueueItem, QueueStats
from plugins.queue_redis import links, scripts
from plugins.queue_redis.metrics import observe

DEFAULT_PREFIX = "junction:builds:queue"
_STORED = ("id", "package", "version", "python_tag", "platform_tag", "recipes", "enqueued_at")


def dedup_key(item: QueueItem) -> str:
    """The item's de-duplication key as one string."""
    return json.dumps(list(item.key), separators=(",", ":"))


class RedisQueue:
    """A queue under ``prefix`` in the Redis at ``url`` (see the module docstring)."""

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
        self.client = client or redis.Redis.from_url(
            url, decode_responses=True, **links.client_options()
        )
        tag = "{" + prefix + "}"
        self.keys = [f"{tag}:{name}" for name in scripts.KEY_NAMES]
        self._enqueue = self.client.register_script(scripts.ENQUEUE)
        self._lease = self.client.register_script(scripts.LEASE)
        self._ack = self.client.register_script(scripts.ACK)
        self._nack = self.client.register_script(scripts.NACK)
        self._stats = self.client.register_script(scripts.STATS)
        self._items = self.client.register_script(scripts.ITEMS)
        self._clear = self.client.register_script(scripts.CLEAR)

    @staticmethod
    def _item(raw: str, attempts: Any, deadline: Any, now: float) -> QueueItem:
        item = QueueItem.from_dict(json.loads(raw))
        item.attempts = int(attempts or 0)
        item.available_at = item.enqueued_at
        if deadline not in (None, "", False) and float(deadline) > now:
            item.leased_until = float(deadline)
        return item

    def enqueue(self, item: QueueItem) -> tuple[QueueItem, bool]:
        """Add ``item`` unless its key is queued or leased."""
        now = self.clock()
        item.enqueued_at = item.enqueued_at or now
        body = json.dumps({k: getattr(item, k) for k in _STORED}, separators=(",", ":"))
        created, _id, raw, attempts, deadline = self._enqueue(
            keys=self.keys, args=[item.id, dedup_key(item), body]
        )
        return self._item(raw, attempts, deadline, now), bool(int(created))

    def lease(self, worker: str, visibility_timeout: float) -> Lease | None:
        """The head of the line, leased until ``now + visibility_timeout``."""
        now = self.clock()
        deadline = now + visibility_timeout
        token = secrets.token_hex(16)
        found = self._lease(keys=self.keys, args=[repr(now), repr(deadline), token])
        if not found:
            return None
        _id, raw, attempts = found
        return Lease(self._item(raw, attempts, deadline, now), token, deadline)

    def ack(self, item_id: str, token: str) -> bool:
        """Remove a leased item whose lease ``token`` still holds."""
        return bool(self._ack(keys=self.keys, args=[item_id, token, repr(self.clock())]))

    def nack(self, item_id: str, token: str, delay: float = 0.0) -> bool:
        """Give a leased item back, available again after ``delay`` seconds."""
        now = self.clock()
        args = [item_id, token, repr(now), repr(now + max(0.0, delay))]
        return bool(self._nack(keys=self.keys, args=args))

    def stats(self) -> QueueStats:
        """Waiting and leased counts, the oldest waiting item's age, redeliveries."""
        now = self.clock()
        waiting, in_flight, oldest, redeliveries = self._stats(keys=self.keys, args=[repr(now)])
        stats = QueueStats(
            backend=self.name,
            length=int(waiting),
            in_flight=int(in_flight),
            oldest_enqueued_at=float(json.loads(oldest)["enqueued_at"]) if oldest else None,
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
        flat = self._items(keys=self.keys, args=[int(offset), int(limit)])
        # Each slice holds exactly the three fields _item takes before now; mypy cannot count it.
        return [self._item(*flat[n : n + 3], now) for n in range(0, len(flat), 3)]  # type: ignore[call-arg]

    def clear(self) -> int:
        """Remove every item (memory freed in the background)."""
        return int(self._clear(keys=self.keys))

    def ping(self) -> bool:
        """Whether the server answers."""
        return bool(self.client.ping())

    def describe(self) -> dict[str, Any]:
        """The backend's settings for ``GET /api/builds/config`` (no credentials)."""
        return {"url": links.sanitised_url(self.url), "prefix": self.prefix}

    def close(self) -> None:
        """Release the connection pool."""
        self.client.close()
