"""The contract every build-queue backend keeps, as a reusable pytest suite.

A backend's tests subclass :class:`QueueBackendContract` and provide one fixture,
``queue_backend_factory``: a callable ``factory(clock) -> QueueBackend`` whose every call opens
another handle on the *same* (initially empty) queue, with the given clock (wall seconds)::

    from plugins.builds.testing import QueueBackendContract

    class TestRedisQueue(QueueBackendContract):
        @pytest.fixture
        def queue_backend_factory(self, redis_url):
            return lambda clock: RedisQueue(redis_url, prefix=..., clock=clock)

Backends that cannot clear set ``supports_clear = False`` and raise ``ClearNotSupported``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from plugins.builds.queue_base import ClearNotSupported, QueueBackend
from plugins.builds.testing_fakes import ManualClock, make_item
from plugins.builds.testing_procs import QueueProcessContract

__all__ = ["ManualClock", "QueueBackendContract", "make_item"]

VISIBILITY = 60.0


class QueueBackendContract(QueueProcessContract):
    """Tests every backend passes (see the module docstring).

    Class attributes a backend may set: ``promises_fifo`` (default ``True``: items are leased
    in enqueue order), ``stress_items`` (10,000), ``stress_consumers``, ``stress_kills``.
    """

    @pytest.fixture
    def clock(self) -> ManualClock:
        """The clock every handle of the test shares."""
        return ManualClock()

    @pytest.fixture
    def open_queue(
        self, queue_backend_factory: Callable[[ManualClock], QueueBackend], clock: ManualClock
    ) -> Iterator[Callable[[], QueueBackend]]:
        """Open handles on the test's queue; all are closed at the end."""
        handles: list[QueueBackend] = []

        def open_one() -> QueueBackend:
            handles.append(queue_backend_factory(clock))
            return handles[-1]

        yield open_one
        for handle in handles:
            handle.close()

    @pytest.fixture
    def queue(self, open_queue: Callable[[], QueueBackend]) -> QueueBackend:
        """One handle."""
        return open_queue()

    def test_enqueue_lists_and_counts(self, queue: QueueBackend, clock: ManualClock) -> None:
        """An enqueued item is listed with its fields and counted as waiting."""
        item, created = queue.enqueue(make_item(python_tag="cp312", recipes={"apt": ["gcc"]}))
        assert created
        listed = queue.items(10, 0)
        assert [i.id for i in listed] == [item.id]
        assert listed[0].recipes == {"apt": ["gcc"]} and listed[0].python_tag == "cp312"
        stats = queue.stats()
        assert (stats.length, stats.in_flight) == (1, 0)
        assert stats.oldest_enqueued_at == pytest.approx(clock.now)

    def test_same_key_is_not_queued_twice(self, queue: QueueBackend) -> None:
        """The same package, version and tags return the queued item."""
        first, _ = queue.enqueue(make_item(platform_tag="linux_s390x"))
        again, created = queue.enqueue(make_item(platform_tag="linux_s390x"))
        assert not created and again.id == first.id
        _, other = queue.enqueue(make_item(platform_tag="linux_x86_64"))
        assert other
        assert queue.stats().length == 2

    def test_lease_is_fifo_and_exclusive(self, queue: QueueBackend, clock: ManualClock) -> None:
        """Items are leased oldest first (where the backend promises FIFO), and a leased item
        is handed to nobody else."""
        a, _ = queue.enqueue(make_item("a"))
        clock.advance(1)
        b, _ = queue.enqueue(make_item("b"))
        first = queue.lease("w1", VISIBILITY)
        second = queue.lease("w2", VISIBILITY)
        assert first is not None and second is not None
        if self.promises_fifo:
            assert (first.item.id, second.item.id) == (a.id, b.id)
        else:
            assert {first.item.id, second.item.id} == {a.id, b.id}
        assert queue.lease("w3", VISIBILITY) is None
        stats = queue.stats()
        assert (stats.length, stats.in_flight) == (0, 2)

    def test_ack_removes_only_with_the_current_token(self, queue: QueueBackend) -> None:
        """ack needs the lease's token; a second ack is refused."""
        queue.enqueue(make_item())
        lease = queue.lease("w", VISIBILITY)
        assert lease is not None
        assert not queue.ack(lease.item.id, "not-the-token")
        assert queue.ack(lease.item.id, lease.token)
        assert not queue.ack(lease.item.id, lease.token)
        assert queue.stats().length == 0 and queue.items(10, 0) == []

    def test_expired_lease_is_served_again(self, queue: QueueBackend, clock: ManualClock) -> None:
        """At-least-once: an unacknowledged item comes back after its visibility timeout, and
        the stale token can no longer ack it."""
        queue.enqueue(make_item())
        old = queue.lease("w1", VISIBILITY)
        assert old is not None
        clock.advance(VISIBILITY - 1)
        assert queue.lease("w2", VISIBILITY) is None
        clock.advance(2)
        new = queue.lease("w2", VISIBILITY)
        assert new is not None and new.item.id == old.item.id and new.token != old.token
        assert new.item.attempts == 2
        assert queue.stats().redeliveries in (None, 1)
        assert not queue.ack(old.item.id, old.token)
        assert queue.ack(new.item.id, new.token)

    def test_nack_gives_back_now_or_after_a_delay(
        self, queue: QueueBackend, clock: ManualClock
    ) -> None:
        """nack returns the item; with a delay only once the delay has passed."""
        queue.enqueue(make_item())
        lease = queue.lease("w", VISIBILITY)
        assert lease is not None and queue.nack(lease.item.id, lease.token)
        again = queue.lease("w", VISIBILITY)
        assert again is not None and again.item.id == lease.item.id
        assert queue.nack(again.item.id, again.token, delay=30)
        assert queue.lease("w", VISIBILITY) is None
        assert queue.stats().length == 1
        clock.advance(31)
        assert queue.lease("w", VISIBILITY) is not None

    def test_leased_item_is_not_queued_twice(self, queue: QueueBackend) -> None:
        """An item being built is not queued again."""
        queue.enqueue(make_item())
        assert queue.lease("w", VISIBILITY) is not None
        _, created = queue.enqueue(make_item())
        assert not created

    def test_handles_share_the_queue(self, open_queue: Callable[[], QueueBackend]) -> None:
        """Two handles (processes) see one queue and never hold the same item."""
        a, b = open_queue(), open_queue()
        for n in range(10):
            a.enqueue(make_item(f"p{n}"))
        served: list[str] = []
        for handle in [a, b] * 6:
            lease = handle.lease("w", VISIBILITY)
            if lease is not None:
                served.append(lease.item.id)
                assert handle.ack(lease.item.id, lease.token)
        assert len(served) == len(set(served)) == 10
        assert b.stats().length == 0

    def test_items_survive_a_new_handle(self, open_queue: Callable[[], QueueBackend]) -> None:
        """What was enqueued (and its lease) is durable across handles."""
        first = open_queue()
        first.enqueue(make_item("one"))
        first.enqueue(make_item("two"))
        lease = first.lease("w", VISIBILITY)
        first.close()
        second = open_queue()
        assert {i.package for i in second.items(10, 0)} == {"one", "two"}
        stats = second.stats()
        assert (stats.length, stats.in_flight) == (1, 1)
        assert lease is not None and second.ack(lease.item.id, lease.token)

    def test_fifo_over_many_items(self, queue: QueueBackend) -> None:
        """Fifty items enqueued in one clock tick are leased in enqueue order (FIFO backends)."""
        if not self.promises_fifo:
            pytest.skip("this backend does not promise FIFO order")
        ids = [queue.enqueue(make_item(f"p{n}"))[0].id for n in range(50)]
        served = []
        while (lease := queue.lease("w", VISIBILITY)) is not None:
            served.append(lease.item.id)
        assert served == ids

    def test_items_pages(self, queue: QueueBackend, clock: ManualClock) -> None:
        """items(limit, offset) pages oldest first."""
        for n in range(5):
            queue.enqueue(make_item(f"p{n}"))
            clock.advance(1)
        assert [i.package for i in queue.items(2, 1)] == ["p1", "p2"]

    def test_clear(self, queue: QueueBackend) -> None:
        """clear empties the queue, or is refused by a backend that cannot."""
        queue.enqueue(make_item("a"))
        queue.enqueue(make_item("b"))
        if not queue.supports_clear:
            with pytest.raises(ClearNotSupported):
                queue.clear()
            return
        assert queue.clear() == 2
        assert queue.stats().length == 0
        _, created = queue.enqueue(make_item("a"))
        assert created
