"""What a handle leases next over several partitions: the oldest items over all of them (ties
to its home partition), found without walking every partition's heap; and a lone handle works
one partition at a time."""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace
from typing import Any

import pytest

from plugins.builds.testing_fakes import ManualClock, make_item
from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.journal import Entry, PartitionState
from plugins.queue_kafka.pace import Paces
from tests.plugins.queue_kafka.test_journal import _history

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free

PARTITIONS = 3


def _brute_force(
    states: dict[int, PartitionState], home: int, now: float, limit: int, exclude: str | None
) -> list[tuple[str, int]]:
    ready: list[tuple[Entry, int]] = [
        (e, p) for p, state in states.items() for e in state.available(now) if e.item.id != exclude
    ]
    ready.sort(
        key=lambda pair: (
            pair[0].item.available_at,
            pair[0].item.enqueued_at,
            pair[1] != home,
            pair[0].offset,
        )
    )
    return [(e.item.id, p) for e, p in ready[:limit]]


def _coarse(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its clock readings rounded to whole seconds: items of different
    partitions tie on ``available_at`` and ``enqueued_at``, as items enqueued together do."""
    out: dict[str, Any] = {k: float(round(v)) if k in _TIMES else v for k, v in record.items()}
    if isinstance(record.get("item"), dict):
        out["item"] = _coarse(record["item"])
    return out


_TIMES = {"now", "until", "available_at", "enqueued_at"}


@pytest.mark.parametrize("seed", range(60))
def test_the_ranking_is_the_oldest_over_every_partition(seed: int) -> None:
    """Random histories in three partitions (leases held and ending, nacks with a delay, clock
    readings that tie): the ranking equals a full scan of every partition, whether or not the
    other partitions' heaps were skipped because home's candidates were older."""
    rng = random.Random(seed)
    states = {}
    for p in range(PARTITIONS):
        state = PartitionState()
        for offset, record in enumerate(_history(rng, rng.randrange(5, 120))):
            state.apply(offset, _coarse(record))
        states[p] = state
    clock = ManualClock(0.0)
    queue = object.__new__(KafkaQueue)  # the ranking alone: no broker
    queue._journal = SimpleNamespace(  # type: ignore[assignment]
        states=states, paces=Paces(PARTITIONS, lambda partitions: {}, clock)
    )
    for _ in range(20):
        queue._home = rng.randrange(PARTITIONS)
        now = float(rng.randrange(80))
        limit = rng.choice([1, 1, 2, 16])
        pending = [e.item.id for s in states.values() for e in s.entries.values()]
        exclude = rng.choice(pending) if pending and rng.random() < 0.5 else None
        found = [(e.item.id, p) for e, p in queue._ranked(now, limit, exclude)]
        assert found == _brute_force(states, queue._home, now, limit, exclude)


def test_a_lone_handle_works_one_partition_at_a_time(kafka_settings):
    """Items enqueued together in three partitions: one handle drains them partition after
    partition (its home first), not the oldest offset of each in turn, which put two
    partitions into every produce request."""
    queue = KafkaQueue(kafka_settings(partitions=PARTITIONS))
    try:
        queue.enqueue_many([make_item(f"p{n}") for n in range(45)])
        order = []
        while (lease := queue.lease("w", 60)) is not None:
            order.append(queue.partition_of(lease.item))
            assert queue.ack(lease.item.id, lease.token)
        assert len(order) == 45
        switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
        assert switches == PARTITIONS - 1, order
    finally:
        queue.close()
