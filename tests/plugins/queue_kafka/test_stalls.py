"""Catch-ups that wait: a missing offset is skipped after GAP_PATIENCE, a stall is fetched
again after 1, 3, 7... STALL_REFETCH seconds and ends in TimeoutError after the handle's
timeout, and a fetch left paused is set going by the refetch."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from plugins.builds.testing_fakes import ManualClock, make_item
from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.stalls import GAP_PATIENCE, STALL_REFETCH, GapClock, StallClock

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free


def test_a_gap_is_permanent_after_its_patience_and_per_offset() -> None:
    clock = ManualClock()
    gaps = GapClock(clock)
    assert not gaps.is_permanent(0, 7)
    clock.advance(GAP_PATIENCE - 0.1)
    assert not gaps.is_permanent(0, 7)
    assert not gaps.is_permanent(1, 3)  # another partition has a clock of its own
    clock.advance(0.1)
    assert gaps.is_permanent(0, 7)
    assert not gaps.is_permanent(0, 8)  # the next missing offset waits its own patience
    gaps.forget(1)
    clock.advance(GAP_PATIENCE - 0.1)
    assert not gaps.is_permanent(1, 3)  # forgotten: patience starts again


def test_a_stall_refetches_at_doubling_intervals_and_times_out() -> None:
    """Refetches after 1, 3 and 7 intervals without a record (a slow fetch is not dropped
    forever), once each; a new record starts the clock again; TimeoutError at the timeout."""
    clock = ManualClock(start=0.0)
    stall = StallClock(progress=10, timeout=8 * STALL_REFETCH, clock=clock)
    refetched_at = []
    for _ in range(31):  # polls every quarter of an interval (exact in binary), 7.75 intervals
        clock.advance(STALL_REFETCH / 4)
        if stall.stalled(10) is not None:
            refetched_at.append(clock.now / STALL_REFETCH)
    assert refetched_at == [1.25, 3.25, 7.25]
    assert stall.stalled(11) is None  # a new record: the clock starts again
    clock.advance(STALL_REFETCH + 0.01)
    assert stall.stalled(11) is not None
    clock.advance(8 * STALL_REFETCH)
    with pytest.raises(TimeoutError):
        stall.stalled(11)


def test_a_fetch_left_paused_is_set_going_by_the_refetch(kafka_settings) -> None:
    """The first fetch of a catch-up is left paused (as a resume lost to an earlier pause would
    leave it): nothing arrives, and the refetch after STALL_REFETCH brings the records; without
    it the catch-up would time out."""
    settings = kafka_settings(operation_timeout=STALL_REFETCH * 4)
    writer, reader = KafkaQueue(settings), KafkaQueue(settings)
    ids = {item.id for item, _ in writer.enqueue_many([make_item(f"p{n}") for n in range(5)])}
    journal = reader._journal
    fetch = journal._fetch
    lost: list[int] = []

    def lost_resume(partitions: list[int], keep_gaps: bool = False) -> None:
        fetch(partitions, keep_gaps)
        if not lost:  # only the catch-up's first fetch goes astray
            lost.extend(partitions)
            journal._consumer.pause([TopicPartition(settings.topic, p) for p in partitions])

    journal._fetch = lost_resume  # type: ignore[method-assign]
    assert {item.id for item in reader.items(100, 0)} == ids
    assert lost and journal.refetches >= 1
