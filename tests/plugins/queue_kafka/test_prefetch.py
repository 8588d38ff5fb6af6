"""The lease prefetched with an ack: handed out next, renewed when stale, given back on close
without counting an attempt, and lost to nobody's harm when another handle took it; held only
HOLD seconds until a ``lease`` hands it out, then extended (unwaited) to the full timeout."""

from __future__ import annotations

import pytest

from plugins.builds.testing_fakes import ManualClock, make_item
from plugins.queue_kafka.backend import HOLD, KafkaQueue

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free

VISIBILITY = 60.0


def _two_items(queue: KafkaQueue, clock: ManualClock) -> tuple[str, str]:
    first, _ = queue.enqueue(make_item("a"))
    clock.advance(1)
    second, _ = queue.enqueue(make_item("b"))
    return first.id, second.id


def test_the_next_lease_is_taken_with_the_ack(kafka_settings) -> None:
    """After an ack the next item is already leased (others see it in flight), and the next
    ``lease`` call hands it out as a first attempt with the full deadline."""
    clock = ManualClock()
    queue, other = KafkaQueue(kafka_settings(), clock), KafkaQueue(kafka_settings(), clock)
    _first, second = _two_items(queue, clock)
    lease = queue.lease("w", VISIBILITY)
    assert lease is not None and queue.ack(lease.item.id, lease.token)
    stats = other.stats()
    assert (stats.length, stats.in_flight) == (0, 1)
    assert other.lease("w2", VISIBILITY) is None
    nxt = queue.lease("w", VISIBILITY)
    assert nxt is not None and nxt.item.id == second and nxt.item.attempts == 1
    assert nxt.expires_at == clock.now + VISIBILITY
    assert queue.ack(nxt.item.id, nxt.token)
    assert other.stats().length + other.stats().in_flight == 0
    queue.close()
    other.close()


def test_a_stale_prefetched_lease_is_renewed(kafka_settings) -> None:
    """Asked for long after the ack (its deadline passed), the prefetched item is renewed:
    a new token and deadline, still the first attempt; the old token cannot ack."""
    clock = ManualClock()
    queue = KafkaQueue(kafka_settings(), clock)
    _first, second = _two_items(queue, clock)
    lease = queue.lease("w", VISIBILITY)
    assert lease is not None and queue.ack(lease.item.id, lease.token)
    stale = queue._next
    assert stale is not None
    clock.advance(VISIBILITY * 2)
    nxt = queue.lease("w", VISIBILITY)
    assert nxt is not None and nxt.item.id == second and nxt.item.attempts == 1
    assert nxt.token != stale.lease.token and nxt.expires_at == clock.now + VISIBILITY
    assert not queue.ack(second, stale.lease.token)
    assert queue.ack(second, nxt.token)
    queue.close()


def test_a_prefetched_lease_taken_over_is_not_handed_out(kafka_settings) -> None:
    """The prefetched lease expired and another handle leased the item: the renewal loses and
    the item is not handed out twice. Its first real delivery is the other handle's: one
    attempt, no redelivery (the prefetch that nobody was handed does not count)."""
    clock = ManualClock()
    queue, other = KafkaQueue(kafka_settings(), clock), KafkaQueue(kafka_settings(), clock)
    _first, second = _two_items(queue, clock)
    lease = queue.lease("w", VISIBILITY)
    assert lease is not None and queue.ack(lease.item.id, lease.token)
    clock.advance(VISIBILITY * 2)
    taken = other.lease("w2", VISIBILITY)
    assert taken is not None and taken.item.id == second and taken.item.attempts == 1
    assert other.figures()["redeliveries"] == 0
    assert queue.lease("w", VISIBILITY) is None
    assert other.ack(second, taken.token)
    queue.close()
    other.close()


def test_close_gives_a_prefetched_lease_back(kafka_settings) -> None:
    """A handle closed with a prefetched lease gives it back at once, as a first attempt,
    still ahead of younger items."""
    clock = ManualClock()
    queue = KafkaQueue(kafka_settings(), clock)
    _first, second = _two_items(queue, clock)
    clock.advance(1)
    queue.enqueue(make_item("c"))
    lease = queue.lease("w", VISIBILITY)
    assert lease is not None and queue.ack(lease.item.id, lease.token)
    queue.close()
    later = KafkaQueue(kafka_settings(), clock)
    figures = later.figures()
    assert (figures["length"], figures["in_flight"], figures["redeliveries"]) == (2, 0, 0)
    again = later.lease("w", VISIBILITY)
    assert again is not None and again.item.id == second and again.item.attempts == 1
    later.close()


def test_an_unclaimed_prefetched_lease_frees_its_item_after_the_hold(kafka_settings) -> None:
    """The next ``lease`` goes to another handle (another API process): the item prefetched
    with the ack is held only HOLD seconds, not the visibility timeout, and is then leased
    there."""
    clock = ManualClock()
    queue, other = KafkaQueue(kafka_settings(), clock), KafkaQueue(kafka_settings(), clock)
    _first, second = _two_items(queue, clock)
    lease = queue.lease("w", VISIBILITY)
    assert lease is not None and queue.ack(lease.item.id, lease.token)
    clock.advance(HOLD - 0.5)
    assert other.lease("w", VISIBILITY) is None
    assert (other.stats().length, other.stats().in_flight) == (0, 1)
    clock.advance(0.5)
    assert (other.stats().length, other.stats().in_flight) == (1, 0)
    taken = other.lease("w", VISIBILITY)
    assert taken is not None and taken.item.id == second
    assert taken.expires_at == clock.now + VISIBILITY
    assert queue.lease("w", VISIBILITY) is None  # the stale prefetch is not handed out
    assert other.ack(second, taken.token)
    queue.close()
    other.close()


def test_a_prefetched_lease_handed_out_holds_for_the_visibility_timeout(kafka_settings) -> None:
    """Handed out by ``lease``, the prefetched item is extended (unwaited) to the full
    visibility timeout: other handles cannot take it after HOLD, and the worker's ack wins."""
    clock = ManualClock()
    queue, other = KafkaQueue(kafka_settings(), clock), KafkaQueue(kafka_settings(), clock)
    _first, second = _two_items(queue, clock)
    lease = queue.lease("w", VISIBILITY)
    assert lease is not None and queue.ack(lease.item.id, lease.token)
    held = queue._next
    assert held is not None and held.lease.expires_at == clock.now + HOLD
    clock.advance(1)
    nxt = queue.lease("w", VISIBILITY)
    assert nxt is not None and nxt.item.id == second and nxt.item.attempts == 1
    assert nxt.token != held.lease.token and nxt.expires_at == clock.now + VISIBILITY
    assert nxt.item.leased_until == nxt.expires_at
    clock.advance(VISIBILITY - 2)  # long past the hold, before the full deadline
    assert other.lease("w2", VISIBILITY) is None
    assert (other.stats().length, other.stats().in_flight) == (0, 1)
    assert queue.ack(second, nxt.token)
    assert other.stats().length + other.stats().in_flight == 0
    assert queue._journal.unwaited_lost == 0
    queue.close()
    other.close()


def test_the_ack_after_a_lost_renewal_is_refused(kafka_settings) -> None:
    """The unwaited renewal landed after another handle took the item (its clock past the
    hold, ours not): the worker's ack with the renewed token is refused, the item is acked
    once, by the handle that won it."""
    clock, ahead_clock = ManualClock(), ManualClock()
    queue = KafkaQueue(kafka_settings(), clock)
    other = KafkaQueue(kafka_settings(), ahead_clock)
    _first, second = _two_items(queue, clock)
    lease = queue.lease("w", VISIBILITY)
    assert lease is not None and queue.ack(lease.item.id, lease.token)
    ahead_clock.now = clock.now + HOLD + 1
    taken = other.lease("w2", VISIBILITY)
    assert taken is not None and taken.item.id == second
    nxt = queue.lease("w", VISIBILITY)  # its view still shows its own hold: renews unwaited
    assert nxt is not None and nxt.item.id == second
    assert not queue.ack(second, nxt.token)
    assert queue._journal.unwaited_lost == 1
    assert other.ack(second, taken.token)
    queue.close()
    other.close()
