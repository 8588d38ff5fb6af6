"""The ``kafka`` build-queue backend: a topic whose records are the queue's history.

Enqueue produces a ``put`` record (idempotent producer, ``acks=all``); lease, ack and nack
produce ``lease``/``ack``/``nack`` records to the item's partition and read the partition up to
their own record to learn whether they won (:mod:`plugins.queue_kafka.journal`). Each handle
follows every partition with a consumer that is *assigned* its partitions (no group join) and
commits, in the consumer group, the offset from which a new handle must replay: only records of
items acknowledged (or re-produced by a nack) are ever skipped, so an item whose worker died is
read again by everyone and handed out again once its visibility deadline passes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from plugins.builds.queue_base import (
    ClearNotSupported,
    Clock,
    Lease,
    QueueItem,
    QueueStats,
)
from plugins.queue_kafka.config import KafkaSettings
from plugins.queue_kafka.journal import Entry, Outcome, PartitionState

log = logging.getLogger(__name__)

CLEAR_REFUSED = (
    "The kafka queue backend cannot be cleared: its items are records of a Kafka topic, an "
    "append-only log that other consumers read too, and records cannot be deleted one by one. "
    "Let the workers drain the queue (or ack the items), or have an operator delete the topic."
)
GAP_PATIENCE = 2.0  # seconds a missing offset may stay invisible before it is skipped
SPREAD = 16  # after losing a lease race, try one of the oldest SPREAD items at random


class KafkaQueue:
    """A handle on the queue in ``settings.topic`` (see the module docstring)."""

    name = "kafka"
    supports_clear = False

    def __init__(self, settings: KafkaSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or time.time
        self.timeout = float(settings.operation_timeout)
        self._lock = threading.RLock()
        base = settings.client_config()
        self._partitions = self._ensure_topic(base)
        self._producer = shared_producer(
            {
                **base,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 0,
                "message.timeout.ms": int(self.timeout * 1000),
            }
        )
        self._consumer = Consumer(
            {
                **base,
                "logger": log,
                "group.id": settings.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                # A lease waits for its own record to come back: fetch without lingering.
                "fetch.wait.max.ms": 5,
                "fetch.error.backoff.ms": 10,
            }
        )
        committed = self._consumer.committed(
            [TopicPartition(settings.topic, p) for p in range(self._partitions)],
            timeout=self.timeout,
        )
        self._states: dict[int, PartitionState] = {}
        self._committed: dict[int, int] = {}
        assignment = []
        for tp in committed:
            start = tp.offset if tp.offset >= 0 else 0
            self._states[tp.partition] = PartitionState(position=start)
            self._committed[tp.partition] = start
            assignment.append(TopicPartition(settings.topic, tp.partition, start))
        self._consumer.assign(assignment)
        self._waiting: dict[tuple[int, int], Outcome] = {}
        self._gaps: dict[int, tuple[int, float]] = {}
        self._closed = False

    # -- plumbing --------------------------------------------------------------------------

    def _ensure_topic(self, base: dict[str, Any]) -> int:
        # librdkafka's clients take a logging.Logger as "logger"; the stubs allow only scalars.
        admin = AdminClient({**base, "logger": log})  # type: ignore[dict-item]
        topic = self.settings.topic
        found = admin.list_topics(topic=topic, timeout=self.timeout).topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            futures = admin.create_topics(
                [NewTopic(topic, num_partitions=self.settings.partitions, replication_factor=-1)]
            )
            try:
                futures[topic].result(self.timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
            found = admin.list_topics(topic=topic, timeout=self.timeout).topics[topic]
        return len(found.partitions)

    def partition_of(self, item: QueueItem) -> int:
        """The partition of ``item``'s key (duplicates must meet in one partition's log)."""
        key = "\x1f".join(str(part) for part in item.key)
        return zlib.crc32(key.encode()) % self._partitions

    def _produce(self, records: Iterable[tuple[int, dict[str, Any]]]) -> list[int]:
        """Produce ``(partition, record)``\\s durably; their offsets, in order."""
        results: list[Any] = []
        for partition, record in records:
            slot = len(results)
            results.append(None)

            def delivered(err: Any, msg: Any, slot: int = slot) -> None:
                results[slot] = err if err is not None else msg.offset()

            self._producer.produce(
                self.settings.topic,
                json.dumps(record, separators=(",", ":")).encode(),
                partition=partition,
                on_delivery=delivered,
            )
        self._producer.flush(self.timeout)
        for result in results:
            if not isinstance(result, int):
                raise KafkaException(result or KafkaError(KafkaError._MSG_TIMED_OUT))
        return results

    def _read_until(self, targets: dict[int, int]) -> None:
        """Apply records until every partition in ``targets`` is past its offset."""
        deadline = time.monotonic() + self.timeout
        while any(self._states[p].position <= off for p, off in targets.items()):
            if time.monotonic() > deadline:
                raise TimeoutError("the queue topic did not return our own record in time")
            # What is already fetched, else wait for the next message (returns on arrival).
            # poll() may return None (skipped below); the stubs type the batch as consume()'s.
            batch = self._consumer.consume(1000, 0) or [self._consumer.poll(0.05)]  # type: ignore[list-item]
            reseeked: set[int | None] = set()
            for msg in batch:
                if msg is None or msg.partition() in reseeked:
                    continue
                if msg.error() is not None:
                    # error() returns the same object on each call: not None here.
                    if msg.error().code() == KafkaError._PARTITION_EOF:  # type: ignore[union-attr]
                        continue
                    raise KafkaException(msg.error())
                # A record (no error) always has a partition and an offset; the stubs allow None.
                if not self._apply(msg.partition(), msg.offset(), msg.value()):  # type: ignore[arg-type]
                    reseeked.add(msg.partition())

    def _apply(self, partition: int, offset: int, value: bytes | None) -> bool:
        """Apply one record; ``False`` when it came after a gap and we seeked back for it."""
        state = self._states[partition]
        if offset < state.position:
            return True  # already applied (a re-fetch)
        if offset > state.position and not self._gap_is_permanent(partition, state.position):
            # Offsets of this topic are contiguous (no compaction, no transactions), so a gap
            # is a record not yet visible to this fetch (Tansu shows concurrent batches out of
            # order): applying past it would fork this handle's view. Fetch it again.
            self._consumer.seek(TopicPartition(self.settings.topic, partition, state.position))
            return False
        self._gaps.pop(partition, None)
        try:
            record = json.loads(value or b"")
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("queue_kafka: record %s/%s is not a queue record", partition, offset)
            record = {}
        outcome = state.apply(offset, record)
        if (partition, offset) in self._waiting:
            self._waiting[(partition, offset)] = outcome
        return True

    def _gap_is_permanent(self, partition: int, missing: int) -> bool:
        """Whether offset ``missing`` has stayed absent for GAP_PATIENCE seconds."""
        first_seen = self._gaps.setdefault(partition, (missing, time.monotonic()))
        if first_seen[0] != missing:
            self._gaps[partition] = first_seen = (missing, time.monotonic())
        if time.monotonic() - first_seen[1] < GAP_PATIENCE:
            return False
        log.warning("queue_kafka: offset %s/%s never appeared; skipping it", partition, missing)
        return True

    def _run(self, partition: int, record: dict[str, Any]) -> Outcome:
        """Produce ``record`` and apply the log up to it: its outcome."""
        (offset,) = self._produce([(partition, record)])
        self._waiting[(partition, offset)] = Outcome(False)
        try:
            self._read_until({partition: offset})
            return self._waiting[(partition, offset)]
        finally:
            self._waiting.pop((partition, offset), None)

    def sync(self) -> None:
        """Bring this handle's view up to date with everything produced before the call."""
        with self._lock:
            offsets = self._produce([(p, {"op": "sync"}) for p in range(self._partitions)])
            self._read_until(dict(enumerate(offsets)))

    def _commit(self, partition: int) -> None:
        low = self._states[partition].commit_offset()
        if low > self._committed[partition]:
            self._committed[partition] = low
            tp = TopicPartition(self.settings.topic, partition, low)
            self._consumer.commit(offsets=[tp], asynchronous=True)

    def _find(self, item_id: str) -> tuple[int, Entry] | None:
        for partition, state in self._states.items():
            if item_id in state.entries:
                return partition, state.entries[item_id]
        return None

    # -- the backend interface -------------------------------------------------------------

    def enqueue(self, item: QueueItem) -> tuple[QueueItem, bool]:
        """Produce ``item`` unless an item with its key is pending where the record lands."""
        with self._lock:
            now = self.clock()
            item.enqueued_at = item.enqueued_at or now
            item.available_at = item.available_at or item.enqueued_at
            outcome = self._run(self.partition_of(item), {"op": "put", "item": item.as_dict()})
            assert outcome.item is not None
            return _copy(outcome.item), outcome.ok

    def enqueue_many(self, items: list[QueueItem]) -> list[tuple[QueueItem, bool]]:
        """:meth:`enqueue` for many items in one batch of records (one flush, one read)."""
        with self._lock:
            now = self.clock()
            records = []
            for item in items:
                item.enqueued_at = item.enqueued_at or now
                item.available_at = item.available_at or item.enqueued_at
                records.append((self.partition_of(item), {"op": "put", "item": item.as_dict()}))
            offsets = self._produce(records)
            keys = [(p, o) for (p, _), o in zip(records, offsets, strict=True)]
            for key in keys:
                self._waiting[key] = Outcome(False)
            try:
                targets: dict[int, int] = {}
                for p, o in keys:
                    targets[p] = max(o, targets.get(p, -1))
                self._read_until(targets)
                outcomes = [self._waiting[key] for key in keys]
            finally:
                for key in keys:
                    self._waiting.pop(key, None)
            return [(_copy(o.item), o.ok) for o in outcomes if o.item is not None]

    def lease(self, worker: str, visibility_timeout: float) -> Lease | None:
        """The oldest available item, won by a ``lease`` record, or ``None``."""
        with self._lock:
            synced, lost = False, 0
            while True:
                now = self.clock()
                ready = sorted(
                    ((e, p) for p, s in self._states.items() for e in s.available(now)),
                    key=lambda pair: (
                        pair[0].item.available_at,
                        pair[0].item.enqueued_at,
                        pair[0].offset,
                    ),
                )
                if not ready:
                    if synced:
                        return None
                    self.sync()
                    synced = True
                    continue
                entry, partition = ready[0] if not lost else random.choice(ready[:SPREAD])
                token = uuid.uuid4().hex
                until = now + visibility_timeout
                record = {
                    "op": "lease",
                    "id": entry.item.id,
                    "token": token,
                    "now": now,
                    "until": until,
                    "worker": worker[:100],
                }
                outcome = self._run(partition, record)
                if outcome.ok and outcome.item is not None:
                    return Lease(_copy(outcome.item), token, until)
                lost += 1

    def _settle(self, item_id: str, record: dict[str, Any]) -> bool:
        found = self._find(item_id)
        if found is None:
            self.sync()  # leased through another handle after our last look?
            found = self._find(item_id)
            if found is None:
                return False
        partition, entry = found
        record = {**record, "id": item_id, "now": self.clock()}
        if record["op"] == "nack":
            record["available_at"] = record["now"] + max(0.0, float(record.pop("delay")))
            record["item"] = entry.item.as_dict()
        outcome = self._run(partition, record)
        if outcome.ok:
            self._commit(partition)
        return outcome.ok

    def ack(self, item_id: str, token: str) -> bool:
        """Remove a leased item whose lease ``token`` still holds at the record's position."""
        with self._lock:
            return self._settle(item_id, {"op": "ack", "token": token})

    def nack(self, item_id: str, token: str, delay: float = 0.0) -> bool:
        """Re-produce a leased item (same attempts), available after ``delay`` seconds."""
        with self._lock:
            return self._settle(item_id, {"op": "nack", "token": token, "delay": delay})

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
            self.sync()
            now = self.clock()
            entries = [e.item for s in self._states.values() for e in s.entries.values()]
            waiting = [i for i in entries if (i.leased_until or 0) <= now]
            return {
                "length": len(waiting),
                "in_flight": len(entries) - len(waiting),
                "oldest_enqueued_at": min((i.enqueued_at for i in waiting), default=None),
                "lag": sum(s.position - self._committed[p] for p, s in self._states.items()),
                "end_offsets": {p: s.position for p, s in self._states.items()},
                "committed_offsets": dict(self._committed),
                "redeliveries": sum(s.redeliveries for s in self._states.values()),
            }

    def items(self, limit: int, offset: int) -> list[QueueItem]:
        """Queued and leased items, oldest first."""
        with self._lock:
            self.sync()
            entries = [(e, p) for p, s in self._states.items() for e in s.entries.values()]
            entries.sort(key=lambda pair: (pair[0].item.enqueued_at, pair[1], pair[0].offset))
            return [_copy(e.item) for e, _ in entries[offset : offset + limit]]

    def clear(self) -> int:
        """Refused: see :data:`CLEAR_REFUSED`."""
        raise ClearNotSupported(CLEAR_REFUSED)

    def close(self) -> None:
        """Commit where this handle can, then close the clients."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                for partition in self._states:
                    low = self._states[partition].commit_offset()
                    if low > self._committed[partition]:
                        tp = TopicPartition(self.settings.topic, partition, low)
                        self._consumer.commit(offsets=[tp], asynchronous=False)
            except KafkaException as exc:
                log.warning("queue_kafka: final commit failed (%s)", exc.args[0].name())
            finally:
                self._consumer.close()
                self._producer.flush(self.timeout)


_PRODUCERS: dict[tuple[int, str], Producer] = {}
_PRODUCERS_LOCK = threading.Lock()


def shared_producer(config: dict[str, Any]) -> Producer:
    """One idempotent producer per process and configuration, shared by its handles.

    An idempotent producer's first delivery waits for its producer id (0.5-1 s on Tansu);
    sharing it makes a new handle cheap. Keyed by pid: a producer does not survive a fork.
    """
    key = (os.getpid(), json.dumps(config, sort_keys=True))
    with _PRODUCERS_LOCK:
        if key not in _PRODUCERS:
            _PRODUCERS[key] = Producer({**config, "logger": log})
        return _PRODUCERS[key]


def _copy(item: QueueItem) -> QueueItem:
    return QueueItem.from_dict(item.as_dict())


def open_queue(**settings: Any) -> KafkaQueue:
    """A handle on the queue ``settings`` (``KafkaSettings`` fields) name, on the real clock:
    how another process (a worker, the contract suite's consumer processes) opens it."""
    return KafkaQueue(KafkaSettings(**settings))
