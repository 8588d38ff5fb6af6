"""The Redis backend's own promises beyond the shared contract: one key per script call,
every key in one cluster slot, scripts loaded where the server lacks them, stale tokens void
after a nack or a reaped expiry, the order in which returned items come back, and listings
longer than one HMGET."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from plugins.builds.testing import ManualClock, make_item
from plugins.queue_redis.backend import RedisQueue

REDIS_URL = os.environ.get("JUNCTION_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not REDIS_URL, reason="needs JUNCTION_TEST_REDIS_URL (a Redis server)"),
]


@pytest.fixture
def clock() -> ManualClock:
    """The test's clock."""
    return ManualClock()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of its own, removed afterwards."""
    name = f"junction-test:{uuid.uuid4().hex}"
    yield name
    queue = RedisQueue(str(REDIS_URL), prefix=name)
    queue.client.unlink(*queue.keys)
    queue.close()


@pytest.fixture
def queue(prefix: str, clock: ManualClock) -> Iterator[RedisQueue]:
    """A handle on the test's queue."""
    handle = RedisQueue(str(REDIS_URL), prefix=prefix, clock=clock)
    yield handle
    handle.close()


def test_each_call_sends_one_key_and_every_key_shares_its_slot(
    queue: RedisQueue, prefix: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every operation is one EVALSHA with the hash tag as its only key; the keys the scripts
    make are the listed ones, all in the tag's cluster slot."""
    calls: list[tuple[Any, ...]] = []
    original = queue.client.execute_command

    def spy(*args: Any, **options: Any) -> Any:
        calls.append(args)
        return original(*args, **options)

    monkeypatch.setattr(queue.client, "execute_command", spy)
    queue.enqueue(make_item("a"))
    queue.enqueue(make_item("b"))
    first = queue.lease("w", 60)
    second = queue.lease("w", 60)
    assert first is not None and second is not None
    assert queue.nack(second.item.id, second.token, delay=5)
    clock.advance(1)
    queue.stats()
    queue.items(10, 0)
    # SCRIPT LOAD only where the server did not know a script yet (a fresh server)
    assert {c[0] for c in calls} <= {"EVALSHA", "SCRIPT LOAD"}
    evals = [c for c in calls if c[0] == "EVALSHA"]
    assert len(evals) >= 7  # a first EVALSHA refused (NOSCRIPT) is sent again
    assert {(c[2], c[3]) for c in evals} == {(1, "{" + prefix + "}")}

    made = {k.decode() for k in queue.client.scan_iter(match="{" + prefix + "}*", count=1000)}
    assert made and made <= set(queue.keys)
    assert {key_slot(k.encode()) for k in queue.keys} == {key_slot(("{" + prefix + "}").encode())}
    assert queue.ack(first.item.id, first.token)


def test_a_given_back_lease_no_longer_acks(queue: RedisQueue) -> None:
    """After a nack, at once or delayed, the old token neither acks nor nacks, and the item is
    listed as not leased."""
    queue.enqueue(make_item())
    lease = queue.lease("w", 60)
    assert lease is not None and queue.nack(lease.item.id, lease.token)
    assert not queue.ack(lease.item.id, lease.token)
    again = queue.lease("w", 60)
    assert again is not None and again.item.attempts == 2
    assert queue.items(10, 0)[0].leased_until == again.expires_at
    assert queue.nack(again.item.id, again.token, delay=30)
    assert not queue.ack(again.item.id, again.token)
    assert not queue.nack(again.item.id, again.token)
    listed = queue.items(10, 0)
    assert listed[0].leased_until is None and listed[0].attempts == 2
    stats = queue.stats()
    assert (stats.length, stats.in_flight) == (1, 0)


def test_a_reaped_lease_is_void_even_for_a_lagging_clock(
    queue: RedisQueue, prefix: str, clock: ManualClock
) -> None:
    """Once an expired lease has been returned to the line, its token fails even on a handle
    whose clock has not reached the deadline yet."""
    queue.enqueue(make_item())
    lease = queue.lease("w", 10)
    assert lease is not None
    lagging = RedisQueue(str(REDIS_URL), prefix=prefix, clock=lambda: clock.now)
    clock.advance(11)
    assert queue.stats().in_flight == 0  # whoever notices first returns it
    clock.now -= 11  # the lagging handle's time: before the deadline
    try:
        assert not lagging.ack(lease.item.id, lease.token)
    finally:
        lagging.close()
    clock.advance(11)
    again = queue.lease("w", 10)
    assert again is not None and again.item.id == lease.item.id and again.item.attempts == 2
    assert queue.stats().redeliveries == 1


def test_returned_items_come_back_in_order(queue: RedisQueue, clock: ManualClock) -> None:
    """Expired leases go to the head of the line, earliest deadline first; a delayed item whose
    delay is over to its tail. Delayed items count as waiting, not in flight."""
    a, _ = queue.enqueue(make_item("a"))
    b, _ = queue.enqueue(make_item("b"))
    c, _ = queue.enqueue(make_item("c"))
    d, _ = queue.enqueue(make_item("d"))
    assert [queue.lease("w", t) is not None for t in (10, 5)] == [True, True]  # a, then b
    leased_c = queue.lease("w", 60)
    assert leased_c is not None and leased_c.item.id == c.id
    assert queue.nack(c.id, leased_c.token, delay=1)
    stats = queue.stats()
    assert (stats.length, stats.in_flight) == (2, 2)
    clock.advance(11)
    served = []
    while (lease := queue.lease("w", 60)) is not None:
        served.append(lease.item.id)
    assert served == [b.id, a.id, d.id, c.id]


def test_long_listing_pages(queue: RedisQueue) -> None:
    """A listing longer than one HMGET batch keeps enqueue order; offsets past it are empty."""
    ids = [queue.enqueue(make_item(f"p{n}"))[0].id for n in range(600)]
    assert [i.id for i in queue.items(600, 0)] == ids
    assert [i.id for i in queue.items(10, 595)] == ids[595:]
    assert queue.items(10, 600) == []
    assert queue.clear() == 600


def test_scripts_unknown_to_the_server_are_loaded(queue: RedisQueue) -> None:
    """A server that does not know a script (restarted, flushed) gets it loaded on NOSCRIPT
    and the operation still happens once."""
    scripts = [queue._enqueue, queue._lease, queue._ack, queue._stats]
    for script in scripts:
        script.sha = "0" * 40  # what the server answers NOSCRIPT to, without flushing it
    item, created = queue.enqueue(make_item())
    lease = queue.lease("w", 60)
    assert created and lease is not None and lease.item.id == item.id
    assert queue.ack(lease.item.id, lease.token)
    assert queue.stats().length == 0
    assert all(script.sha != "0" * 40 for script in scripts)
