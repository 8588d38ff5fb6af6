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

Each partition also keeps its pending items in a heap ordered by ``(available_at, enqueued_at,
offset)`` so that a lease finds the oldest available items without sorting the whole queue
(:meth:`PartitionState.candidates`); a heap key whose item was acked or re-produced since is
dropped when it reaches the top.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from plugins.builds.queue_base import QueueItem


@dataclass
class Entry:
    """A pending item, the offset of its current record and its lease token."""

    item: QueueItem
    offset: int
    token: str | None = None
    # The current lease is a prefetched one never handed out (``held`` lease record, not renewed).
    held: bool = False


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
    # (available_at, enqueued_at, offset, id) of pending items; stale keys dropped lazily.
    order: list[tuple[float, float, int, str]] = field(default_factory=list)

    def apply(self, offset: int, record: dict[str, Any]) -> Outcome:
        """Apply the record at ``offset`` (offsets must come in increasing order)."""
        self.position = offset + 1
        op = record.get("op")
        if op == "put":
            return self._put(offset, QueueItem.from_dict(record["item"]))
        entry = self.entries.get(str(record.get("id")))
        if op == "lease" and "renew" in record:
            # A renewal by the holder of the current token (a prefetched lease handed out
            # late, or to another worker name): a new token and deadline, no new attempt.
            if entry is None or entry.token != str(record["renew"]):
                return Outcome(False)
            entry.item.leased_until = float(record["until"])
            entry.token, entry.held = str(record["token"]), False
            return Outcome(True, entry.item)
        if op == "lease":
            if entry is None or not _available(entry.item, float(record["now"])):
                return Outcome(False)
            entry.item.leased_until = float(record["until"])
            entry.token = str(record["token"])
            if entry.held:
                # The expired lease was a prefetched one nobody was handed: its attempt was
                # never made, so this one takes its place instead of adding another.
                entry.held = bool(record.get("held"))
                return Outcome(True, entry.item)
            entry.held = bool(record.get("held"))
            entry.item.attempts += 1
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
            entry.offset, entry.token, entry.held = offset, None, False
            if record.get("release"):  # a prefetched lease never handed out: no attempt
                if entry.item.attempts > 1:
                    self.redeliveries -= 1
                entry.item.attempts = max(0, entry.item.attempts - 1)
            entry.item.leased_until = None
            entry.item.available_at = float(record["available_at"])
            self._order(entry)
            return Outcome(True, entry.item)
        return Outcome(True)  # "sync" and unknown (newer) operations change nothing

    def _put(self, offset: int, item: QueueItem) -> Outcome:
        existing = self.by_key.get(item.key)
        if existing is not None:
            self.pins.append((offset, self.entries[existing].offset))
            return Outcome(False, self.entries[existing].item)
        self.entries[item.id] = entry = Entry(item, offset)
        self.by_key[item.key] = item.id
        self._order(entry)
        return Outcome(True, item)

    def _order(self, entry: Entry) -> None:
        if len(self.order) > 2 * len(self.entries) + 64:  # mostly stale keys: rebuild
            self.order = [k for k in self.order if self._current(k)]
            heapq.heapify(self.order)
        key = (entry.item.available_at, entry.item.enqueued_at, entry.offset, entry.item.id)
        heapq.heappush(self.order, key)

    def _current(self, key: tuple[float, float, int, str]) -> bool:
        entry = self.entries.get(key[3])
        # available_at only changes with the item's record (a nack), so the offset tells.
        return entry is not None and entry.offset == key[2]

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

    def candidates(self, now: float, limit: int) -> list[Entry]:
        """Up to ``limit`` entries that may be leased at ``now``, oldest first.

        Costs O((limit + leased items ahead of them) log n): leased items are skipped, and the
        scan stops at the first item whose ``available_at`` is still to come.
        """
        if limit == 1 and self.order:  # the usual case, without touching the heap
            key = self.order[0]
            if self._current(key) and key[0] <= now:
                entry = self.entries[key[3]]
                if _available(entry.item, now):
                    return [entry]
        found: list[Entry] = []
        seen: list[tuple[float, float, int, str]] = []
        while self.order and len(found) < limit:
            key = self.order[0]
            if not self._current(key):
                heapq.heappop(self.order)
                continue
            if key[0] > now:
                break
            seen.append(heapq.heappop(self.order))
            entry = self.entries[key[3]]
            if _available(entry.item, now):
                found.append(entry)
        for key in seen:
            heapq.heappush(self.order, key)
        return found

    def available(self, now: float) -> list[Entry]:
        """Every entry that may be leased at ``now``, oldest first."""
        return self.candidates(now, len(self.entries))


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
