"""A handle far behind starts its catch-up at the group's committed offset: it reads far fewer
records, reaches the state a replay from offset 0 reaches, and never skips a record of its own
whose outcome it awaits."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from plugins.builds.testing_fakes import make_item
from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.committed import SKIP_MIN
from plugins.queue_kafka.config import KafkaSettings
from plugins.queue_kafka.journal import Outcome, PartitionState

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free

WORKED = 300  # items enqueued, leased and acked one after the other: ~3 records each


def _replayed_from_zero(settings: KafkaSettings, end: int) -> PartitionState:
    """Partition 0 applied from offset 0 up to ``end`` (exclusive) by a consumer of its own."""
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": uuid.uuid4().hex}
    )
    consumer.assign([TopicPartition(settings.topic, 0, 0)])
    state = PartitionState()
    while state.position < end:
        msg = consumer.poll(5)
        assert msg is not None and msg.error() is None, "the log ended early"
        offset = msg.offset()
        assert offset == state.position  # one partition, read in order
        state.apply(offset, orjson.loads(msg.value() or b""))
    consumer.close()
    return state


def _view(state: PartitionState) -> dict[str, Any]:
    """What decides every later outcome: the pending items, their leases, the keys."""
    return {
        "entries": {
            i: (e.token, e.held, e.item.leased_until, e.item.attempts, e.item.available_at)
            for i, e in state.entries.items()
        },
        "keys": dict(state.by_key),
    }


def _work_behind_its_back(settings: KafkaSettings, pending: int) -> set[str]:
    """Another handle enqueues, leases and acks WORKED items one at a time (so the pending
    items' records are recent), enqueues ``pending`` more, and commits; the ids left pending
    (an item the other handle enqueued earlier is among the acked ones)."""
    worker = KafkaQueue(settings)
    enqueued, acked = set(), set()
    for n in range(WORKED):
        enqueued.add(worker.enqueue(make_item(f"w{n}"))[0].id)
        lease = worker.lease("w", 60)
        assert lease is not None and worker.ack(lease.item.id, lease.token)
        acked.add(lease.item.id)
    enqueued |= {worker.enqueue(make_item(f"left{n}"))[0].id for n in range(pending)}
    worker.close()  # commits the replay offset: the first pending item's put
    return enqueued - acked


def test_a_far_behind_handle_skips_to_the_committed_offset(kafka_settings) -> None:
    settings = kafka_settings(partitions=1)
    behind = KafkaQueue(settings)
    left = _work_behind_its_back(settings, pending=5)
    stats = behind.stats()
    assert (stats.length, stats.in_flight) == (len(left), 0)
    journal = behind._journal
    state = journal.states[0]
    assert state.position - WORKED >= SKIP_MIN  # the log it could have read
    assert journal.skipped >= state.position - 20  # it read little more than the pending items
    assert set(state.entries) == set(left)
    assert _view(state) == _view(_replayed_from_zero(settings, state.position))
    behind.close()


def test_a_stale_lease_after_the_skip_loses_and_the_next_wins(kafka_settings) -> None:
    """The behind handle's view shows items acked long ago: its lease of one lands at the end,
    the catch-up skips ahead, the lease loses, and the next pick is a pending item."""
    settings = kafka_settings(partitions=1)
    behind = KafkaQueue(settings)
    behind.enqueue(make_item("early"))  # in its view: available; acked behind its back
    left = _work_behind_its_back(settings, pending=3)
    lease = behind.lease("late", 60)
    assert lease is not None and lease.item.id in left and lease.item.attempts == 1
    assert behind._journal.skipped > 0
    assert behind.ack(lease.item.id, lease.token)
    behind.close()


def test_the_skip_never_passes_an_awaited_record_of_its_own(kafka_settings) -> None:
    settings = kafka_settings(partitions=1)
    behind = KafkaQueue(settings)
    _work_behind_its_back(settings, pending=2)
    journal = behind._journal
    committed = journal._consumer.committed([TopicPartition(settings.topic, 0)], timeout=10)
    assert committed[0].offset > SKIP_MIN
    awaited = committed[0].offset - 100  # as if a record of ours had landed there
    journal._waiting[(0, awaited)] = Outcome(False)
    journal._skip_to_committed([0], {0: committed[0].offset + 10})
    assert journal.states[0].position == awaited
    del journal._waiting[(0, awaited)]
    behind.close()
