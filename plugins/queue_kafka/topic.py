"""The queue topic as a replicated journal: producing records and applying the log in order.

:class:`TopicJournal` owns the Kafka clients of one handle. :meth:`TopicJournal.run` produces
records and returns their outcomes (:mod:`plugins.queue_kafka.journal`) once every record before
them in their partitions has been applied. Two ways get it there:

- **its own records, applied locally**: the delivery report gives a record's offset, and the
  handle knows the record's bytes. When the handle has applied everything before that offset
  (always so when no other handle wrote to the partition in between), it applies its own record
  without waiting for the consumer to fetch it back: the log up to and including it is known.
  That saves the fetch round trip, which on Tansu is not woken by a produce and so costs up to
  ``fetch.wait.max.ms`` per operation (docs/queue_kafka.md);
- **other handles' records, fetched on demand**: the consumer is ``assign()``ed every partition
  (no group join) but keeps them paused. Only when the delivery report shows a gap (records of
  other handles between the handle's position and its own record), or for a ``sync`` marker, is
  the partition resumed from the handle's position, fetched up to the record, and paused again.
  Following every partition continuously made the broker serve every record to every handle,
  its own included, and Tansu charges a fetch in proportion to the partition's length.

A record may also be produced **unwaited** (:meth:`TopicJournal.produce_unwaited`, the backend's
renewal of a prefetched lease): it rides in the next flush's request, and once its delivery
report is taken in it is an own record like any other, applied in log order.

Offsets are committed (in the consumer group, as the offset a new handle replays from) lazily,
at most every :data:`COMMIT_INTERVAL` seconds and on close: the committed offset is only where a
replay starts, so committing late makes a new handle replay a few more records, never lose or
repeat an outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from plugins.queue_kafka.clients import (
    ensure_topic,
    fetch_from,
    paused_consumer,
    shared_producer,
)
from plugins.queue_kafka.committed import SKIP_MIN, commit_offsets, skip_starts
from plugins.queue_kafka.config import KafkaSettings
from plugins.queue_kafka.journal import Outcome, PartitionState
from plugins.queue_kafka.pace import Paces
from plugins.queue_kafka.peek import peek_tails
from plugins.queue_kafka.stalls import STALL_REPORT, GapClock, StallClock

log = logging.getLogger("plugins.queue_kafka.backend")

COMMIT_INTERVAL = 1.0  # seconds between offset commits (a commit is only a replay hint)
UNWAITED_LINGER_MS = 5  # how long an unwaited record may wait to share a produce request


@dataclass
class _Unwaited:
    """An own record produced without waiting: its delivery report once it came."""

    partition: int
    payload: bytes
    result: Any = None  # the offset, or the delivery error
    done: bool = False


class TopicJournal:
    """One handle's producer, its consumer of every partition, and the applied state."""

    def __init__(
        self, settings: KafkaSettings, timeout: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        base = settings.client_config()
        self.partitions = ensure_topic(settings, base, timeout)
        self._producer = shared_producer(
            {
                **base,
                "enable.idempotence": True,
                "acks": "all",
                # Every run() flushes, which sends at once whatever the linger; the linger only
                # delays an unwaited record, so that the handle's next run (a worker's ack)
                # carries it in the same produce request instead of one more request of its own.
                "linger.ms": UNWAITED_LINGER_MS,
                "message.timeout.ms": int(timeout * 1000),
            }
        )
        self._consumer, self.committed = paused_consumer(settings, base, self.partitions, timeout)
        self.states = {p: PartitionState(position=o) for p, o in self.committed.items()}
        # How fast other handles ack, per partition; by the queue's clock, which the records'
        # own clock readings come from.
        self.paces = Paces(self.partitions, self._peek, clock)
        self._fetching: set[int] = set()
        self._own: dict[tuple[int, int], bytes] = {}  # our records not yet fetched back
        self._last_own: dict[int, int] = {}
        self.contended: dict[int, bool] = {}  # another handle wrote there since our last record
        self._waiting: dict[tuple[int, int], Outcome] = {}
        self._unwaited: list[_Unwaited] = []  # produced unwaited, delivery report not taken in
        self._unresolved: list[tuple[int, int]] = []  # delivered unwaited, not yet applied
        self.unwaited_lost = 0  # unwaited records that failed (delivery or compare-and-set)
        self._gaps = GapClock()
        self.refetches = 0  # catch-ups' fetches asked again after a stall
        self.skipped = 0  # records a catch-up did not read, starting from the committed offset
        self._last_commit = time.monotonic()

    # -- producing -------------------------------------------------------------------------

    def produce(self, records: Iterable[tuple[int, dict[str, Any]]]) -> list[int]:
        """Produce ``(partition, record)``\\s durably (one flush); their offsets, in order."""
        results: list[Any] = []
        payloads: list[tuple[int, bytes]] = []
        for partition, record in records:
            slot = len(results)
            results.append(None)
            payload = orjson.dumps(record)
            payloads.append((partition, payload))

            def delivered(err: Any, msg: Any, slot: int = slot) -> None:
                results[slot] = err if err is not None else msg.offset()

            self._producer.produce(
                self.settings.topic, payload, partition=partition, on_delivery=delivered
            )
        self._producer.flush(self.timeout)
        # Unwaited records were produced before these (and the flush served their reports):
        # take them in first, so that our records are known in log order.
        self._take_unwaited()
        for result in results:
            if not isinstance(result, int):
                raise KafkaException(result or KafkaError(KafkaError._MSG_TIMED_OUT))
        for (partition, payload), offset in zip(payloads, results, strict=True):
            self._own_record(partition, offset, payload)
        return results

    def _own_record(self, partition: int, offset: int, payload: bytes) -> None:
        self._own[(partition, offset)] = payload
        self.paces.own(partition, offset)
        last = self._last_own.get(partition)
        self.contended[partition] = last is not None and offset != last + 1
        self._last_own[partition] = offset

    def produce_unwaited(self, partition: int, record: dict[str, Any]) -> None:
        """Produce an own record without waiting for it (see the module docstring): sent at
        once, applied in log order once its delivery report is taken in; whether it won is
        not reported (a lost one only counts in :attr:`unwaited_lost`)."""
        payload = orjson.dumps(record)
        sent = _Unwaited(partition, payload)

        def delivered(err: Any, msg: Any) -> None:
            # May run in another handle's flush (the producer is shared): only set fields.
            sent.result = err if err is not None else msg.offset()
            sent.done = True

        self._producer.produce(
            self.settings.topic, payload, partition=partition, on_delivery=delivered
        )
        self._unwaited.append(sent)

    def take_reports(self) -> None:
        """Take in the delivery reports that came for unwaited records, and apply those that
        come next in their partition (no flush, no fetch: cheap enough before every pick)."""
        if not self._unwaited and not self._unresolved:
            return
        self._producer.poll(0)
        self._take_unwaited()
        for partition, _ in self._unresolved:
            self._apply_own(partition)
        self._resolve_unwaited()

    def _take_unwaited(self) -> None:
        """Make the delivered unwaited records own records whose outcome we wait for."""
        pending = []
        for sent in self._unwaited:
            if not sent.done:
                pending.append(sent)
            elif isinstance(sent.result, int):
                key = (sent.partition, sent.result)
                self._own_record(sent.partition, sent.result, sent.payload)
                self._waiting[key] = Outcome(False)
                self._unresolved.append(key)
            else:  # never in the log: as if it had lost
                log.warning("queue_kafka: an unwaited record was not delivered (%s)", sent.result)
                self.unwaited_lost += 1
        self._unwaited = pending

    def _resolve_unwaited(self) -> None:
        """Forget the unwaited records applied by now, counting those that lost."""
        unresolved = []
        for partition, offset in self._unresolved:
            if self.states[partition].position <= offset:
                unresolved.append((partition, offset))
            elif not self._waiting.pop((partition, offset)).ok:
                log.info("queue_kafka: unwaited record %s/%s lost", partition, offset)
                self.unwaited_lost += 1
        self._unresolved = unresolved

    def run(self, records: list[tuple[int, dict[str, Any]]]) -> list[Outcome]:
        """Produce ``records`` and apply the log up to them (and up to every unwaited record
        produced before them): their outcomes, in order."""
        offsets = self.produce(records)
        keys = [(p, o) for (p, _), o in zip(records, offsets, strict=True)]
        for key in keys:
            self._waiting[key] = Outcome(False)
        try:
            targets: dict[int, int] = {}
            for p, o in keys + self._unresolved:
                targets[p] = max(o, targets.get(p, -1))
            self.catch_up(targets)
            return [self._waiting[key] for key in keys]
        finally:
            for key in keys:
                self._waiting.pop(key, None)
            self._resolve_unwaited()

    def warm_up(self) -> None:
        """:meth:`sync` for a new handle: its view replayed and the process's producer given
        its id. The markers are no reference for contention: another handle's records after
        them say nothing about competing for items."""
        self.sync()
        self._last_own.clear()
        self.contended.clear()

    def sync(self, partitions: Iterable[int] | None = None) -> None:
        """Bring the view of ``partitions`` (all by default) up to date with everything
        produced before the call (a marker per partition: Tansu's ``ListOffsets`` answers
        stale high watermarks)."""
        wanted = range(self.partitions) if partitions is None else partitions
        self.run([(p, {"op": "sync"}) for p in wanted])

    def _peek(self, partitions: list[int]) -> dict[int, list[tuple[int, bytes]]]:
        return peek_tails(self._consumer, self.settings.topic, partitions)

    # -- applying --------------------------------------------------------------------------

    def catch_up(self, targets: dict[int, int]) -> None:
        """Apply records until every partition in ``targets`` is past its offset: our own
        locally, other handles' (the gaps before ours) fetched for the occasion."""
        behind = self._behind(targets)
        if not behind:
            return
        self._skip_to_committed(behind, targets)
        # The timeout bounds a stall, not the whole catch-up: a handle that has not read a busy
        # topic for a while may have thousands of records to apply, and does so as long as
        # the broker keeps returning them.
        stall = StallClock(self._progress(), self.timeout)
        self._fetch(behind)
        try:
            while behind:
                self.drain(0.05)  # poll() returns as soon as a record arrives
                behind = self._behind(targets)
                if behind and (stalled := stall.stalled(self._progress())) is not None:
                    self._refetch(behind, targets, stalled)
        finally:
            self._stop_fetching()

    def _skip_to_committed(self, behind: list[int], targets: dict[int, int]) -> None:
        """Start each partition far behind over from the group's committed offset when that is
        past this handle's position (:mod:`plugins.queue_kafka.committed`)."""
        far = [p for p in behind if targets[p] - self.states[p].position >= SKIP_MIN]
        if not far:
            return
        # _waiting holds every record whose outcome is awaited, the unwaited ones included.
        found = skip_starts(self._consumer, self.settings.topic, far, self._waiting, self.timeout)
        for partition, (committed, start) in found.items():
            self.committed[partition] = max(self.committed[partition], committed)
            state = self.states[partition]
            if start > state.position:
                self.skipped += start - state.position
                self.states[partition] = PartitionState(start, redeliveries=state.redeliveries)
                for key in [k for k in self._own if k[0] == partition and k[1] < start]:
                    del self._own[key]
                self._gaps.forget(partition)

    def _refetch(self, behind: list[int], targets: dict[int, int], stalled: float) -> None:
        """Ask again for partitions that returned nothing for a while (a fetch is answered in
        milliseconds; a fetcher left waiting on a dropped connection or an outdated position
        is set going again), saying where the handle stands if that goes on."""
        self.refetches += 1
        if stalled > STALL_REPORT:
            tps = [TopicPartition(self.settings.topic, p) for p in behind]
            fetching = {tp.partition: tp.offset for tp in self._consumer.position(tps)}
            log.warning(
                "queue_kafka: no records for %.0f s; partition: (position, target, fetch "
                "position): %s",
                stalled,
                {p: (self.states[p].position, targets[p], fetching.get(p)) for p in behind},
            )
        self._fetch(behind, keep_gaps=True)

    def _progress(self) -> int:
        return sum(state.position for state in self.states.values())

    def _behind(self, targets: dict[int, int]) -> list[int]:
        for partition in targets:
            self._apply_own(partition)
        return [p for p, off in targets.items() if self.states[p].position <= off]

    def _fetch(self, partitions: list[int], keep_gaps: bool = False) -> None:
        """Fetch ``partitions`` from each one's position (they are paused otherwise); a new
        fetch gives a missing offset its full patience again unless ``keep_gaps``."""
        tps = [TopicPartition(self.settings.topic, p, self.states[p].position) for p in partitions]
        fetch_from(self._consumer, tps)
        if not keep_gaps:
            for p in partitions:
                self._gaps.forget(p)
        self._fetching.update(partitions)

    def _stop_fetching(self) -> None:
        tps = [TopicPartition(self.settings.topic, p) for p in self._fetching]
        self._fetching.clear()
        if tps:
            self._consumer.pause(tps)

    def drain(self, wait: float = 0.0) -> None:
        """Apply what the consumer has fetched; wait up to ``wait`` s for a first record."""
        batch = self._consumer.consume(1000, 0)
        if not batch and wait > 0:
            msg = self._consumer.poll(wait)
            batch = [msg] if msg is not None else []
        reseeked: set[int] = set()
        for msg in batch:
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(error)
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None or partition in reseeked:
                continue  # (a record always has both; the client types them optional)
            if partition not in self._fetching:
                continue  # left over from an earlier fetch: fetched again when needed
            if not self._apply_fetched(partition, offset, msg.value()):
                reseeked.add(partition)

    def _apply_own(self, partition: int) -> None:
        """Apply our own records that come next in ``partition`` (no fetch needed)."""
        state = self.states[partition]
        while (payload := self._own.pop((partition, state.position), None)) is not None:
            self._apply(partition, state.position, payload)

    def _apply_fetched(self, partition: int, offset: int, value: bytes | None) -> bool:
        """Apply a fetched record; ``False`` when it came after a gap and we seeked back."""
        state = self.states[partition]
        if offset < state.position:  # applied already: locally (ours) or by an earlier fetch
            own = self._own.pop((partition, offset), None)
            if own is not None and own != value:
                log.error("queue_kafka: %s/%s is not the record we applied", partition, offset)
            return True
        self._apply_own(partition)
        if offset > state.position and not self._gap_is_permanent(partition, state.position):
            # Offsets of this topic are contiguous (no compaction, no transactions), so a gap
            # is a record not yet visible to this fetch (Tansu shows concurrent batches out of
            # order): applying past it would fork this handle's view. Fetch it again.
            self._consumer.seek(TopicPartition(self.settings.topic, partition, state.position))
            return False
        if offset < state.position:  # our own record, applied just now
            return self._apply_fetched(partition, offset, value)
        own = self._own.pop((partition, offset), None)
        if own is not None and own != value:
            log.error("queue_kafka: %s/%s is not the record we produced", partition, offset)
        self._apply(partition, offset, value, other=own is None)
        return True

    def _apply(self, partition: int, offset: int, value: bytes | None, other: bool = False) -> None:
        self._gaps.forget(partition)
        try:
            record = orjson.loads(value or b"")
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("queue_kafka: record %s/%s is not a queue record", partition, offset)
            record = {}
        outcome = self.states[partition].apply(offset, record)
        if other:
            self.paces.applied(partition, record)
        if (partition, offset) in self._waiting:
            self._waiting[(partition, offset)] = outcome

    def _gap_is_permanent(self, partition: int, missing: int) -> bool:
        if not self._gaps.is_permanent(partition, missing):
            return False
        log.warning("queue_kafka: offset %s/%s never appeared; skipping it", partition, missing)
        return True

    # -- offsets ---------------------------------------------------------------------------

    def commit(self, force: bool = False) -> None:
        """Commit each partition's replay offset if it rose (at most every COMMIT_INTERVAL s
        unless ``force``: then synchronously, as on close)."""
        if not force and time.monotonic() - self._last_commit < COMMIT_INTERVAL:
            return
        self._last_commit = time.monotonic()
        commit_offsets(self._consumer, self.settings.topic, self.states, self.committed, force)

    def close(self) -> None:
        """Commit what can be committed, then close the consumer (the producer is shared)."""
        try:
            self.commit(force=True)
        except KafkaException as exc:
            log.warning("queue_kafka: final commit failed (%s)", exc.args[0].name())
        finally:
            self._consumer.close()
            self._producer.flush(self.timeout)
