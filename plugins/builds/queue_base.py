"""What a build-queue backend is: items, leases, statistics and the backend protocol.

Semantics every backend keeps (the contract suite in :mod:`plugins.builds.testing` checks them):

- at-least-once: an item leaves the queue only when acknowledged with its current lease token;
  a lease not acknowledged within its visibility timeout makes the item available again;
- one live lease per item: while a lease holds, nobody else is handed the item;
- ``enqueue`` of an item whose key (package, version, python tag, platform tag) is already
  queued or leased returns that item instead of adding another;
- ``nack`` gives the item back at once (or after ``delay`` seconds), counting an attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Clock = Callable[[], float]


@dataclass
class QueueItem:
    """One build request on the queue (the seed's queue item plus bookkeeping)."""

    id: str
    package: str
    version: str
    python_tag: str | None = None
    platform_tag: str | None = None
    recipes: dict[str, list[str]] = field(default_factory=dict)
    enqueued_at: float = 0.0
    attempts: int = 0
    leased_until: float | None = None
    available_at: float = 0.0

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        """What makes two requests the same build."""
        return (self.package, self.version, self.python_tag, self.platform_tag)

    def copy(self) -> QueueItem:
        """A copy that can be changed without touching this item."""
        # Not dataclasses.replace/asdict: they walk the fields (asdict deep-copies each one),
        # 9-12 % of a kafka lease+ack or enqueue in py-spy. Every field but ``recipes`` holds
        # a scalar.
        copy = object.__new__(QueueItem)
        copy.__dict__.update(self.__dict__)
        copy.recipes = {k: list(v) for k, v in self.recipes.items()}
        return copy

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (what ``dataclasses.asdict`` gives)."""
        return vars(self.copy())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueItem:
        """The inverse of :meth:`as_dict` (unknown keys ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Lease:
    """An item handed to a worker until ``expires_at``; ack or nack it with ``token``."""

    item: QueueItem
    token: str
    expires_at: float


@dataclass
class QueueStats:
    """``length`` waiting (not leased), ``in_flight`` leased, age of the oldest waiting item;
    ``redeliveries``: leases of an item handed out before (``None`` where not counted)."""

    backend: str
    length: int
    in_flight: int
    oldest_enqueued_at: float | None
    supports_clear: bool
    redeliveries: int | None = None


@dataclass
class QueueOptions:
    """What a backend factory gets: the app's configuration, its instance folder, a clock."""

    config: Mapping[str, Any]
    instance_path: Path
    clock: Clock = time.time


class ClearNotSupported(Exception):
    """The backend cannot clear its queue (a Kafka topic, for instance)."""


@runtime_checkable
class QueueBackend(Protocol):
    """The interface of a build-queue backend."""

    name: str
    supports_clear: bool

    def enqueue(self, item: QueueItem) -> tuple[QueueItem, bool]:
        """Add ``item`` unless its key is queued or leased; ``(stored item, created)``."""

    def lease(self, worker: str, visibility_timeout: float) -> Lease | None:
        """The oldest available item, leased for ``visibility_timeout`` seconds, or ``None``."""

    def ack(self, item_id: str, token: str) -> bool:
        """Remove a leased item; ``False`` when the lease is no longer this token's."""

    def nack(self, item_id: str, token: str, delay: float = 0.0) -> bool:
        """Give a leased item back (available after ``delay`` s); ``False`` if not held."""

    def stats(self) -> QueueStats:
        """Counts and the oldest waiting item's enqueue time."""

    def items(self, limit: int, offset: int) -> list[QueueItem]:
        """Queued and leased items, oldest first."""

    def clear(self) -> int:
        """Remove every item; how many. Raises :class:`ClearNotSupported` where impossible."""

    def close(self) -> None:
        """Release connections and files."""
