"""The queue as a deterministic state machine over one Kafka partition's records.

Every change to the queue is a record produced to the partition of its item (``put``,
``lease``, ``ack``, ``nack``; ``sync`` is a no-op marker). Every handle applies the same records
in the same (log) order, so every handle reaches the same state, and whether an operation
*succeeded* is decided by where its record landed in the log, not by its producer: a ``lease``
wins only if the item is still available at the clock reading the record carries, an ``ack``
only if the token is still the item's current one, a ``put`` is a duplicate if an item with the
same key is pending at that position. That is a compare-and-set on the log, which is what makes
two processes never hold the same item without any lock.

The committed offset of the consumer group is the offset a new handle replays from. It is the
lowest offset of a pending item's current record, lowered where a record at or after it had an
outcome that depended on an item whose record lies before it (a duplicate ``put``, a ``nack``
re-producing an item): those are kept as *pins* ``(position, depended-on offset)``. Replaying
from such an offset therefore gives every still-pending item exactly the state a replay from
offset 0 would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plugins.builds.queue_base import QueueItem


@dataclass
class Entry:
    """A pending item, the offset of its current record and its lease token."""

    item: QueueItem
    offset: int
    token: str | None = None


@dataclass
class Outcome:
    """What a record did: ``ok`` (applied), and for a duplicate ``put`` the existing item."""

    ok: bool
    item: QueueItem | None = None


@dataclass
class PartitionState:
    """The pending items of one partition after applying records up to ``position``."""

    position: int = 0
    entries: dict[str, Entry] = field(default_factory=dict)
    by_key: dict[tuple[Any, ...], str] = field(default_factory=dict)
    pins: list[tuple[int, int]] = field(default_factory=list)
    redeliveries: int = 0

    def apply(self, offset: int, record: dict[str, Any]) -> Outcome:
        """Apply the record at ``offset`` (offsets must come in increasing order)."""
        self.position = offset + 1
        op = record.get("op")
        if op == "put":
            return self._put(offset, QueueItem.from_dict(record["item"]))
        entry = self.entries.get(str(record.get("id")))
        if op == "lease":
            if entry is None or not _available(entry.item, float(record["now"])):
                return Outcome(False)
            entry.item.leased_until = float(record["until"])
            entry.item.attempts += 1
            entry.token = str(record["token"])
            if entry.item.attempts > 1:
                self.redeliveries += 1
            return Outcome(True, entry.item)
        if op in ("ack", "nack"):
            if entry is None or not _holds(entry, str(record["token"]), float(record["now"])):
                return Outcome(False)
            if op == "ack":
                del self.entries[entry.item.id]
                self.by_key.pop(entry.item.key, None)
                return Outcome(True, entry.item)
            # The nack re-produces the item: its current record becomes this one.
            self.pins.append((offset, entry.offset))
            entry.offset, entry.token = offset, None
            entry.item.leased_until = None
            entry.item.available_at = float(record["available_at"])
            return Outcome(True, entry.item)
        return Outcome(True)  # "sync" and unknown (newer) operations change nothing

    def _put(self, offset: int, item: QueueItem) -> Outcome:
        existing = self.by_key.get(item.key)
        if existing is not None:
            self.pins.append((offset, self.entries[existing].offset))
            return Outcome(False, self.entries[existing].item)
        self.entries[item.id] = Entry(item, offset)
        self.by_key[item.key] = item.id
        return Outcome(True, item)

    def commit_offset(self) -> int:
        """The offset a new handle may replay this partition from (see the module docstring)."""
        low = min((e.offset for e in self.entries.values()), default=self.position)
        changed = True
        while changed:
            changed = False
            for position, depended in self.pins:
                if position >= low > depended:
                    low, changed = depended, True
        self.pins = [pin for pin in self.pins if pin[0] >= low]
        return low

    def available(self, now: float) -> list[Entry]:
        """Entries that may be leased at ``now``, oldest first."""
        ready = [e for e in self.entries.values() if _available(e.item, now)]
        return sorted(ready, key=lambda e: (e.item.available_at, e.item.enqueued_at, e.offset))


def _available(item: QueueItem, now: float) -> bool:
    if item.leased_until is not None and item.leased_until > now:
        return False
    return item.available_at <= now


def _holds(entry: Entry, token: str, now: float) -> bool:
    return (
        entry.token == token
        and entry.item.leased_until is not None
        and entry.item.leased_until > now
    )
