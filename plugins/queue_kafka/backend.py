"""The ``kafka`` build-queue backend: a topic whose records are the queue's history.

Enqueue produces a ``put`` record (idempotent producer, ``acks=all``); lease, ack and nack
produce ``lease``/``ack``/``nack`` records to the item's partition, and learn whether they won
by applying the log up to their own record (:mod:`plugins.queue_kafka.journal` decides,
:mod:`plugins.queue_kafka.topic` produces and applies: its own records locally, other handles'
records fetched when a gap before its own shows they exist). A successful ack also leases the
next item in the same produce request (:class:`Prefetched`, handed out by the next ``lease``),
so a worker's lease+ack loop costs one durable round trip per item. That lease holds its item
only :data:`HOLD` seconds (nobody may be coming for it: the next ``lease`` can reach another
handle); the ``lease`` call that hands it out extends it to the full visibility timeout with a
renewal record it does not wait for. With several partitions a handle works a *home*
partition and leases elsewhere only where no other handle acks fast
(:mod:`plugins.queue_kafka.pace`): two handles in one partition fetch each other's records at
every operation, which costs more than a fast worker's item. Each handle commits, in the
consumer group, the offset from which a new handle must replay: only records of items
acknowledged (or re-produced by a nack) are ever skipped, so an item whose worker died is read
again by everyone and handed out again once its visibility deadline passes.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import secrets
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

from plugins.builds.queue_base import (
    ClearNotSupported,
    Clock,
    Lease,
    QueueItem,
    QueueStats,
)
from plugins.queue_kafka.config import KafkaSettings
from plugins.queue_kafka.journal import Entry
from plugins.queue_kafka.topic import TopicJournal

CLEAR_REFUSED = (
    "The kafka queue backend cannot be cleared: its items are records of a Kafka topic, an "
    "append-only log that other consumers read too, and records cannot be deleted one by one. "
    "Let the workers drain the queue (or ack the items), or have an operator delete the topic."
)
# Under contention (another handle wrote to the partition since our last record), or after
# losing a lease race, take one of the oldest SPREAD items at random so that concurrent workers
# do not all race for the head.
SPREAD = 16
# A prefetched lease (taken with the ack before it) is handed out as it is while it has lost
# at most this share of its visibility timeout (and at most a second); else it is renewed.
FRESH_SHARE, FRESH_MAX = 0.1, 1.0
# A prefetched lease holds its item this long at most (not the whole visibility timeout): if the
# next lease() never comes to this handle (another process serves it, the worker stopped), the
# item is free for other handles after HOLD seconds rather than after the visibility timeout.
HOLD = 5.0
# Handing a prefetched lease out, its extension to the full visibility timeout is produced
# without waiting while the hold has more than this left: the record lands within milliseconds,
# long before anyone else may take the item. Closer to the hold's end (or past it) a late
# renewal could lose to another handle after the worker started, so that renewal is waited for.
UNWAITED_MIN_LEFT = HOLD / 2


@dataclass
class Prefetched:
    """A lease this handle took with its last ack, for the next ``lease`` call."""

    lease: Lease
    partition: int
    worker: str
    visibility: float


class KafkaQueue:
    """A handle on the queue in ``settings.topic`` (see the module docstring)."""

    name = "kafka"
    supports_clear = False

    def __init__(self, settings: KafkaSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or time.time
        self.timeout = float(settings.operation_timeout)
        self._lock = threading.RLock()
        self._journal = TopicJournal(settings, self.timeout, self.clock)
        self._partitions = self._journal.partitions
        # Among items enqueued in the same clock tick, prefer this partition: with several
        # partitions, workers that settle on different ones rarely interleave their records.
        self._home = random.randrange(self._partitions)
        self._seen_others: dict[int, float] = {}  # when another handle last wrote there
        self._closed = False
        self._next: Prefetched | None = None
        self._leasing: tuple[str, float] | None = None  # worker and visibility of the last lease
        # Registered until close (so an unclosed handle lives until exit).
        atexit.register(self._release_at_exit)
        # Ready when made: the view replayed and this process's idempotent producer given its
        # id (0.5-1 s on Tansu), so that the first operation does not pay for both; a worker
        # started beside a running one would otherwise find the queue drained by the time its
        # first lease returned.
        self._journal.warm_up()

    def partition_of(self, item: QueueItem) -> int:
        """The partition of ``item``'s key (duplicates must meet in one partition's log)."""
        key = "\x1f".join(str(part) for part in item.key)
        return zlib.crc32(key.encode()) % self._partitions

    def sync(self) -> None:
        """Bring this handle's view up to date with everything produced before the call."""
        with self._lock:
            self._journal.sync()

    def _find(self, item_id: str) -> tuple[int, Entry] | None:
        for partition, state in self._journal.states.items():
            if item_id in state.entries:
                return partition, state.entries[item_id]
        return None

    def _ranked(self, now: float, limit: int, exclude: str | None) -> list[tuple[Entry, int]]:
        """The oldest ``limit`` items available at ``now`` over home and the partitions worth
        helping (:mod:`plugins.queue_kafka.pace`), but the item ``exclude``."""
        home, states = self._home, self._journal.states
        want = limit + (exclude is not None)
        ready = [(e, home) for e in states[home].candidates(now, want) if e.item.id != exclude]
        # The (available_at, enqueued_at) of home's limit-th candidate: a partition whose
        # heap's top is no older cannot rank before it (ties go to home), so its heap is not
        # walked (the heap's top may be a stale key: that only means walking it).
        bar = _age(ready[limit - 1][0]) if len(ready) >= limit else None
        for p, state in states.items():
            if p == home or (bar is not None and (not state.order or state.order[0][:2] >= bar)):
                continue
            ready.extend((e, p) for e in state.candidates(now, want) if e.item.id != exclude)
        ready.sort(
            key=lambda pair: (
                pair[0].item.available_at,
                pair[0].item.enqueued_at,
                pair[1] != home,
                pair[0].offset,
            )
        )
        if all(p == home for _, p in ready[:limit]):
            return ready[:limit]
        # Leave partitions that other handles drain fast to them (plugins.queue_kafka.pace).
        others = sorted({p for _, p in ready if p != home})
        helped = set(self._journal.paces.worth_helping(others, now))
        return [(entry, p) for entry, p in ready if p == home or p in helped][:limit]

    def _pick(
        self, now: float, spread: bool, exclude: str | None = None
    ) -> tuple[Entry, int] | None:
        """The item to try to lease: the oldest, or one of the SPREAD oldest if ``spread`` or
        if the oldest lies in a contended partition (never ``exclude``)."""
        self._journal.take_reports()  # our unwaited renewals, where nothing came before them
        contended = self._journal.contended
        self._move_home_if_shared(contended)
        # The oldest alone first: ranking SPREAD items of every partition at each pick cost
        # more than the rest of the pick (four partitions, one of them contended long ago).
        ranked = self._ranked(now, SPREAD if spread else 1, exclude)
        if not ranked:
            return None
        entry, partition = ranked[0]
        if not spread and contended.get(partition):
            ranked = self._ranked(now, SPREAD, exclude)
        if spread or contended.get(partition):
            entry, partition = random.choice(ranked)
        if partition != self._home and not self._journal.states[self._home].candidates(now, 1):
            # Home has nothing to offer: work this partition from now on rather than take the
            # oldest of each partition in turn (one partition per produce request, not two).
            self._home = partition
        return entry, partition

    def _move_home_if_shared(self, contended: dict[int, bool]) -> None:
        """Someone else works our home partition too: move to the partition where we saw
        another handle's records longest ago (so that handles settle on different ones)."""
        now = time.monotonic()
        for partition, flag in contended.items():
            if flag:
                self._seen_others[partition] = now
        if self._partitions > 1 and contended.get(self._home):
            contended[self._home] = False
            others = [p for p in range(self._partitions) if p != self._home]
            random.shuffle(others)
            self._home = min(others, key=lambda p: self._seen_others.get(p, 0.0))

    def _lease_record(self, entry: Entry, worker: str, visibility: float) -> dict[str, Any]:
        """A ``lease`` record of ``entry`` until ``visibility`` seconds from now."""
        now = self.clock()
        return {
            "op": "lease",
            "id": entry.item.id,
            "token": secrets.token_hex(16),
            "now": now,
            "until": now + visibility,
            "worker": worker[:100],
        }

    # -- the backend interface -------------------------------------------------------------

    def enqueue(self, item: QueueItem) -> tuple[QueueItem, bool]:
        """Produce ``item`` unless an item with its key is pending where the record lands."""
        ((copy, created),) = self.enqueue_many([item])
        return copy, created

    def enqueue_many(self, items: list[QueueItem]) -> list[tuple[QueueItem, bool]]:
        """:meth:`enqueue` for many items in one batch of records (one flush, one read)."""
        with self._lock:
            now = self.clock()
            records = []
            for item in items:
                item.enqueued_at = item.enqueued_at or now
                item.available_at = item.available_at or item.enqueued_at
                records.append((self.partition_of(item), {"op": "put", "item": item.as_dict()}))
            outcomes = self._journal.run(records)
            return [(o.item.copy(), o.ok) for o in outcomes if o.item is not None]

    def lease(self, worker: str, visibility_timeout: float) -> Lease | None:
        """The oldest available item, won by a ``lease`` record, or ``None`` (also when the
        items left lie in partitions that other handles drain fast: see the module docstring)."""
        with self._lock:
            self._leasing = (worker, visibility_timeout)
            prefetched = self._take_prefetched(worker, visibility_timeout)
            if prefetched is not None:
                return prefetched
            journal = self._journal
            synced, lost = False, 0
            while True:
                picked = self._pick(self.clock(), spread=lost > 0)
                if picked is None:
                    if synced:
                        return None
                    # Partitions others drain fast are left to them, unread (module docstring).
                    others = [p for p in range(self._partitions) if p != self._home]
                    journal.sync([self._home, *journal.paces.worth_helping(others, self.clock())])
                    synced = True
                    continue
                entry, partition = picked
                record = self._lease_record(entry, worker, visibility_timeout)
                (outcome,) = journal.run([(partition, record)])
                if outcome.ok and outcome.item is not None:
                    return Lease(outcome.item.copy(), record["token"], record["until"])
                lost += 1

    def _take_prefetched(self, worker: str, visibility: float) -> Lease | None:
        """The lease prefetched with the last ack: as it is while fresh (a visibility timeout
        within HOLD), else renewed with a new token and the full deadline, unwaited while the
        hold has UNWAITED_MIN_LEFT to go (``None`` if the item went to someone else)."""
        ahead, self._next = self._next, None
        if ahead is None:
            return None
        now = self.clock()
        lost = ahead.lease.expires_at - (now + visibility)
        fresh = min(FRESH_MAX, FRESH_SHARE * visibility)
        if ahead.worker == worker and ahead.visibility == visibility and lost >= -fresh:
            return ahead.lease
        entry = self._journal.states[ahead.partition].entries.get(ahead.lease.item.id)
        if entry is None or entry.token != ahead.lease.token:
            return None  # our view is a prefix of the log: the renewal would lose
        record = self._lease_record(entry, worker, visibility)
        record["renew"] = ahead.lease.token
        if ahead.lease.expires_at - now > UNWAITED_MIN_LEFT:
            # Nobody else can take the item before the hold ends, and the renewal lands long
            # before: its outcome is applied when its delivery report comes (by the worker's
            # ack at the latest); should it lose after all, that ack is refused.
            self._journal.produce_unwaited(ahead.partition, record)
            item = entry.item.copy()
            item.leased_until = record["until"]
            return Lease(item, record["token"], record["until"])
        (outcome,) = self._journal.run([(ahead.partition, record)])
        if outcome.ok and outcome.item is not None:
            return Lease(outcome.item.copy(), record["token"], record["until"])
        return None

    def _release_prefetched(self) -> None:
        """Give back a prefetched lease nobody asked for (no attempt counted)."""
        ahead, self._next = self._next, None
        if ahead is not None:
            record = {"op": "nack", "token": ahead.lease.token, "delay": 0.0, "release": True}
            self._settle(ahead.lease.item.id, record, prefetch=False)

    def _release_at_exit(self) -> None:
        """Give back the lease prefetched by a handle still open at interpreter exit, so that
        it goes back to the queue now rather than at its deadline (``builds worker --once``)."""
        if not self._closed and self._next is not None:
            # The broker may be gone at exit; the lease then simply expires.
            with contextlib.suppress(Exception), self._lock:
                self._release_prefetched()
                self._journal.commit(force=True)

    def _settle(self, item_id: str, record: dict[str, Any], prefetch: bool) -> bool:
        found = self._find(item_id)
        if found is None:
            self._journal.sync()  # leased through another handle after our last look?
            found = self._find(item_id)
            if found is None:
                return False
        partition, entry = found
        record = {**record, "id": item_id, "now": self.clock()}
        if record["op"] == "nack":
            record["available_at"] = record["now"] + max(0.0, float(record.pop("delay")))
            record["item"] = entry.item.as_dict()
            if record.get("release"):  # back where it was in the order
                record["available_at"] = entry.item.available_at
        records = [(partition, record)]
        leasing = self._leasing if prefetch and self._next is None else None
        if leasing is not None:
            # Lease the next item in the same produce request as this ack: a worker asks for
            # it next, and one durable round trip then serves an ack and a lease. It holds the
            # item only HOLD seconds, until a lease() hands it out (the next lease() may never
            # come here). Never the item settled now: our renewal of its lease may not be
            # applied yet, so it can look available past its hold.
            picked = self._pick(record["now"], spread=False, exclude=item_id)
            if picked is not None:
                worker, visibility = leasing
                hold = self._lease_record(picked[0], worker, min(visibility, HOLD))
                hold["held"] = True  # an attempt only once handed out (see the journal)
                records.append((picked[1], hold))
        outcomes = self._journal.run(records)
        if leasing is not None and len(records) == 2:
            won, (partition_next, ahead) = outcomes[1], records[1]
            if won.ok and won.item is not None:
                lease = Lease(won.item.copy(), ahead["token"], ahead["until"])
                self._next = Prefetched(lease, partition_next, *leasing)
        if outcomes[0].ok:
            self._journal.commit()
        return outcomes[0].ok

    def ack(self, item_id: str, token: str) -> bool:
        """Remove a leased item whose lease ``token`` still holds at the record's position."""
        with self._lock:
            return self._settle(item_id, {"op": "ack", "token": token}, prefetch=True)

    def nack(self, item_id: str, token: str, delay: float = 0.0) -> bool:
        """Re-produce a leased item (same attempts), available after ``delay`` seconds."""
        with self._lock:
            record = {"op": "nack", "token": token, "delay": delay}
            return self._settle(item_id, record, prefetch=False)

    def stats(self) -> QueueStats:
        """Waiting and leased counts and the oldest waiting item, from an up-to-date view."""
        figures = self.figures()
        return QueueStats(
            backend=self.name,
            length=figures["length"],
            in_flight=figures["in_flight"],
            oldest_enqueued_at=figures["oldest_enqueued_at"],
            supports_clear=False,
        )

    def figures(self) -> dict[str, Any]:
        """:meth:`stats` plus offsets: records not yet committed (``lag``) and redeliveries."""
        with self._lock:
            self._journal.sync()
            now = self.clock()
            states, committed = self._journal.states, self._journal.committed
            entries = [e.item for s in states.values() for e in s.entries.values()]
            waiting = [i for i in entries if (i.leased_until or 0) <= now]
            return {
                "length": len(waiting),
                "in_flight": len(entries) - len(waiting),
                "oldest_enqueued_at": min((i.enqueued_at for i in waiting), default=None),
                "lag": sum(s.position - committed[p] for p, s in states.items()),
                "end_offsets": {p: s.position for p, s in states.items()},
                "committed_offsets": dict(committed),
                "redeliveries": sum(s.redeliveries for s in states.values()),
            }

    def items(self, limit: int, offset: int) -> list[QueueItem]:
        """Queued and leased items, oldest first."""
        with self._lock:
            self._journal.sync()
            states = self._journal.states
            entries = [(e, p) for p, s in states.items() for e in s.entries.values()]
            entries.sort(key=lambda pair: (pair[0].item.enqueued_at, pair[1], pair[0].offset))
            return [e.item.copy() for e, _ in entries[offset : offset + limit]]

    def clear(self) -> int:
        """Refused: see :data:`CLEAR_REFUSED`."""
        raise ClearNotSupported(CLEAR_REFUSED)

    def close(self) -> None:
        """Commit where this handle can, then close the clients."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            atexit.unregister(self._release_at_exit)
            try:
                self._release_prefetched()
            finally:
                self._journal.close()


def _age(entry: Entry) -> tuple[float, float]:
    return (entry.item.available_at, entry.item.enqueued_at)


def open_queue(**settings: Any) -> KafkaQueue:
    """A handle on the queue ``settings`` (``KafkaSettings`` fields) name, on the real clock:
    how another process (a worker, the contract suite's consumer processes) opens it."""
    return KafkaQueue(KafkaSettings(**settings))
