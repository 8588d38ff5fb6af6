"""A handle leaves a partition that another handle drains fast to it, and helps where that
handle is slow or gone: the pace of others' acks, refreshed by a peek at the partition's end
instead of a catch-up of its whole history."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from plugins.builds.queue_base import QueueItem
from plugins.builds.testing_fakes import ManualClock, make_item
from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.pace import HELP_MIN_INTERVAL, PEEK_EVERY, Pace, Paces
from plugins.queue_kafka.peek import PEEK_RECORDS, peek_tails

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free


def _ack(now: float) -> bytes:
    return orjson.dumps({"op": "ack", "id": "i", "token": "t", "now": now})


def test_pace_is_the_mean_interval_or_the_silence_since_the_last_ack():
    """No ack seen: infinitely slow; steady acks: their mean interval; a long silence after
    them counts, less the time the handle did not look."""
    pace = Pace()
    assert pace.interval(100.0) == math.inf
    for n in range(5):
        pace.note_ack(100.0 + n * 0.01)
    assert pace.interval(100.05) == pytest.approx(0.01)
    assert pace.interval(101.04) == pytest.approx(1.0)  # silent for a second
    assert pace.interval(101.04, unseen=0.99) == pytest.approx(0.01)  # we were not looking
    pace.note_ack(100.02)  # read again by a peek: ignored
    assert pace.interval(100.05) == pytest.approx(0.01)


def test_paces_peek_only_at_stale_partitions_and_skip_the_handles_own_acks():
    """A partition read within PEEK_EVERY is judged on what the handle read; a stale one is
    peeked at first; acks at offsets of the handle's own records do not count as others'."""
    clock = ManualClock(1000.0)
    tails: dict[int, list[tuple[int, bytes]]] = {}
    peeked: list[list[int]] = []

    def peek(partitions: list[int]) -> dict[int, list[tuple[int, bytes]]]:
        peeked.append(partitions)
        return {p: tails.get(p, []) for p in partitions}

    paces = Paces(3, peek, clock)
    for n in range(4):  # partition 1: another handle acked every millisecond, just read
        paces.applied(1, {"op": "ack", "now": 1000.0 - 0.004 + n * 0.001})
    # Partition 2's end holds fast acks, all of them this handle's own.
    tails[2] = [(10 + n, _ack(999.99 + n * 0.001)) for n in range(4)]
    for n in range(4):
        paces.own(2, 10 + n)
    assert paces.worth_helping([0, 1, 2], clock()) == [0, 2]
    assert peeked == [[0, 2]]  # partition 1 was read just now

    clock.advance(PEEK_EVERY)  # partition 1 is stale now; its end shows fast acks still
    tails[1] = [(50 + n, _ack(clock() - 0.004 + n * 0.001)) for n in range(4)]
    assert paces.worth_helping([1], clock()) == []
    assert peeked[-1] == [1]

    clock.advance(HELP_MIN_INTERVAL + PEEK_EVERY)  # and then it fell silent
    assert paces.worth_helping([1], clock()) == [1]
    assert paces.peeks == 4


def _items_in(queue: KafkaQueue, partition: int, count: int, tag: str) -> list[QueueItem]:
    """``count`` new items whose keys land in ``partition``."""
    found: list[QueueItem] = []
    n = 0
    while len(found) < count:
        item = make_item(f"{tag}{n}")
        n += 1
        if queue.partition_of(item) == partition:
            found.append(item)
    return found


def test_a_fast_worker_keeps_its_partition_and_a_silent_one_gets_help(kafka_settings):
    """B, out of work, leaves A's partition alone while A acks every millisecond, without
    reading A's history; once A has been silent for longer than HELP_MIN_INTERVAL, B leases
    there too."""
    settings = kafka_settings(partitions=2)
    clock = ManualClock(1_000_000.0)
    a, b = KafkaQueue(settings, clock), KafkaQueue(settings, clock)
    try:
        a._home, b._home = 0, 1
        # (B does not sync now: A would find B's marker in its partition and move away.)
        a.enqueue_many(_items_in(a, 0, 30, "a") + _items_in(a, 1, 2, "b"))
        clock.advance(PEEK_EVERY)
        acked = set()
        for _ in range(10):
            lease = a.lease("a", 60)
            assert lease is not None and a.ack(lease.item.id, lease.token)
            acked.add(lease.item.id)
            clock.advance(0.001)
        for _ in range(2):  # B drains its own partition
            lease = b.lease("b", 60)
            assert lease is not None and b.partition_of(lease.item) == 1
            assert b.ack(lease.item.id, lease.token)
        position = b._journal.states[0].position
        assert b.lease("b", 60) is None  # A's items wait, but A is fast
        assert b._journal.states[0].position == position, "B read A's partition"
        assert b._journal.paces.peeks >= 1

        clock.advance(HELP_MIN_INTERVAL + PEEK_EVERY)  # A falls silent
        lease = b.lease("b", 60)
        assert lease is not None and b.partition_of(lease.item) == 0
        assert lease.item.id not in acked and lease.item.attempts == 1
        assert b.ack(lease.item.id, lease.token)
    finally:
        a.close()
        b.close()


def _offsets(tail: list[tuple[int, bytes]]) -> list[int]:
    return [offset for offset, _ in tail]


def test_a_peek_reads_the_last_records_of_each_partition(kafka_settings):
    """The last records of a long partition, oldest first, up to its end (but for Tansu's last
    batch), and the whole of a short one; the partitions are paused again afterwards."""
    settings = kafka_settings(partitions=2)
    queue = KafkaQueue(settings)
    try:
        queue._home = 0
        queue.enqueue_many(_items_in(queue, 0, 40, "a") + _items_in(queue, 1, 3, "b"))
        for _ in range(15):  # small batches at the end of partition 0
            lease = queue.lease("w", 60)
            assert lease is not None and queue.ack(lease.item.id, lease.token)
        journal = queue._journal
        ends = {p: state.position for p, state in journal.states.items()}
        tails = peek_tails(journal._consumer, settings.topic, [0, 1])
        offsets = _offsets(tails[0])
        assert offsets == list(range(offsets[0], offsets[-1] + 1))
        assert len(offsets) >= PEEK_RECORDS - 3
        # Tansu's high watermark is the last batch's first offset, so the peek may end before
        # that batch: at most an ack, a lease and a renewal.
        assert ends[0] - 3 <= offsets[-1] < ends[0]
        assert {orjson.loads(value)["op"] for _, value in tails[0]} >= {"lease", "ack"}
        short = _offsets(tails[1])  # a marker and three puts, from offset 0
        assert short == list(range(short[-1] + 1)) and short[-1] < ends[1]
        lease = queue.lease("w", 60)  # the handle's own fetches still work
        assert lease is not None and queue.ack(lease.item.id, lease.token)
    finally:
        queue.close()


class _FirstResumeLost:
    """A consumer whose first ``resume`` goes astray (the partitions stay paused), as a fetch
    dropped with its connection would."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        self.lost = 0

    def resume(self, partitions: list[Any]) -> None:
        if not self.lost:
            self.lost += 1
            return
        self._consumer.resume(partitions)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def test_a_peek_whose_fetch_went_astray_fetches_again(kafka_settings):
    """The peek's first fetch never starts: after PEEK_REFETCH it resumes and seeks again and
    still returns the tail within PEEK_WAIT (without that, nothing would come)."""
    settings = kafka_settings(partitions=1)
    queue = KafkaQueue(settings)
    try:
        queue.enqueue_many([make_item(f"p{n}") for n in range(5)])
        end = queue._journal.states[0].position
        consumer = _FirstResumeLost(queue._journal._consumer)
        tails = peek_tails(consumer, settings.topic, [0])  # type: ignore[arg-type]
        assert consumer.lost == 1
        offsets = _offsets(tails.get(0, []))
        assert offsets and offsets == list(range(offsets[-1] + 1)) and offsets[-1] < end
    finally:
        queue.close()
