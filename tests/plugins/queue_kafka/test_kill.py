"""Several processes on one Kafka queue: exclusive leases, SIGKILL between lease and ack, and a
long run with random kills where nothing is lost and nothing acknowledged twice."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from confluent_kafka import Consumer, TopicPartition

from plugins.builds.testing import make_item
from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.config import KafkaSettings
from plugins.queue_kafka.journal import PartitionState

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free

ROOT = Path(__file__).resolve().parents[3]
# The random-kill run's size: the 10,000 in `make test` (about 95 s here; 327 s before
# the backend fetched on demand and leased with the ack). JUNCTION_KAFKA_KILL_ITEMS=2000 runs a
# quick one.
KILL_ITEMS = int(os.environ.get("JUNCTION_KAFKA_KILL_ITEMS", "10000"))


class Worker:
    """A worker process and the ids it printed (read by a thread so its pipe never fills)."""

    progress = threading.Condition()  # notified on every line of every worker
    started: ClassVar[list[Worker]] = []

    def __init__(self, mode: str, settings: KafkaSettings, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.plugins.queue_kafka.kafka_worker_proc",
                mode,
                json.dumps(dataclasses.asdict(settings)),
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.changed = Worker.progress
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        Worker.started.append(self)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.strip())
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_lines(self, count: int, timeout: float = 60) -> list[str]:
        """Block until the process printed ``count`` ids (after its ``ready``)."""
        with self.changed:
            ok = self.changed.wait_for(
                lambda: len(self.lines) >= count + 1 or self.proc.poll() is not None, timeout
            )
            assert ok and len(self.lines) >= count + 1, (self.lines[-3:], self.proc.returncode)
            return self.lines[1 : count + 1]

    def kill(self) -> list[str]:
        """SIGKILL; every id it printed."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        return [line for line in self.lines if line != "ready"]


@pytest.fixture(autouse=True)
def _no_worker_left() -> Iterator[None]:
    """Kill the worker processes a failed test left running."""
    yield
    while Worker.started:
        worker = Worker.started.pop()
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait(timeout=30)


def _winning_acks(settings: KafkaSettings) -> tuple[Counter[str], int]:
    """Replay the whole topic from offset 0: successful acks per item id, and items pending."""
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": uuid.uuid4().hex}
    )
    partitions = KafkaQueue(settings)._partitions
    ends = {}
    for p in range(partitions):
        ends[p] = consumer.get_watermark_offsets(TopicPartition(settings.topic, p), timeout=10)
    consumer.assign([TopicPartition(settings.topic, p, 0) for p in range(partitions)])
    states = {p: PartitionState() for p in range(partitions)}
    acked: Counter[str] = Counter()
    idle = 0
    while idle < 20:  # read to the end: 20 empty polls in a row after the last record
        msg = consumer.poll(0.05)
        if msg is None or msg.error():
            idle += 1
            continue
        idle = 0
        value, partition, offset = msg.value(), msg.partition(), msg.offset()
        assert value is not None and partition is not None and offset is not None  # a record
        record = json.loads(value)
        outcome = states[partition].apply(offset, record)
        if record.get("op") == "ack" and outcome.ok:
            acked[record["id"]] += 1
    consumer.close()
    return acked, sum(len(s.entries) for s in states.values())


def test_two_processes_drain_each_item_once(kafka_settings) -> None:
    """Two concurrent consumer processes: every item acknowledged once, by one of them."""
    settings = kafka_settings()
    queue = KafkaQueue(settings)
    ids = {item.id for item, _ in queue.enqueue_many([make_item(f"p{n}") for n in range(300)])}
    workers = [Worker("drain", settings), Worker("drain", settings)]
    served: list[str] = []
    for worker in workers:
        worker.proc.wait(timeout=120)
        worker.reader.join(timeout=30)
        assert worker.proc.returncode == 0
        served += [line for line in worker.lines if line != "ready"]
    assert sorted(served) == sorted(ids)
    assert queue.stats().length == 0
    queue.close()


def test_sigkilled_leaser_is_redelivered(kafka_settings) -> None:
    """A consumer SIGKILLed between lease and ack: its items go to nobody else before their
    visibility deadline, and are delivered again after it (at-least-once)."""
    settings = kafka_settings()
    queue = KafkaQueue(settings)
    ids = {item.id for item, _ in queue.enqueue_many([make_item(f"p{n}") for n in range(40)])}
    worker = Worker("lease", settings)
    worker.wait_lines(10)
    held = set(worker.kill())
    assert len(held) >= 10
    served = set()
    while (lease := queue.lease("survivor", 60)) is not None:
        served.add(lease.item.id)
    assert not served & held
    # The killed process may have leased one more item before it could print it.
    assert len(ids - served - held) <= 1
    later = KafkaQueue(settings, clock=lambda: 2e10)  # long after every lease expired
    again = {}
    while (lease := later.lease("survivor", 60)) is not None:
        again[lease.item.id] = lease
    assert held <= set(again)
    assert all(again[i].item.attempts == 2 for i in held)
    assert all(later.ack(i, again[i].token) for i in held)
    queue.close()
    later.close()


def test_a_process_exiting_unclosed_gives_its_prefetched_lease_back(kafka_settings) -> None:
    """A process that acks one item and exits without closing its handle (the ack prefetched
    the next lease) leaves the rest of the queue available at once, not after 1 h."""
    settings = kafka_settings()
    queue = KafkaQueue(settings)
    queue.enqueue_many([make_item(f"p{n}") for n in range(3)])
    worker = Worker("once", settings)
    assert worker.proc.wait(timeout=60) == 0
    worker.reader.join(timeout=30)
    assert len([line for line in worker.lines if line != "ready"]) == 1
    stats = queue.stats()
    assert (stats.length, stats.in_flight) == (2, 0)
    queue.close()


# 10,000 items take about 95 s on an idle 2-core machine; a busy CI machine gets room.
@pytest.mark.timeout(900)
def test_random_kills_lose_nothing_and_ack_nothing_twice(kafka_settings) -> None:
    """KILL_ITEMS items, four workers, one SIGKILLed at random every few dozen acks and
    replaced: every item is acknowledged exactly once (by the log's own account), no worker's
    ack of an item returned True twice, and the queue ends empty."""
    # Four partitions for four workers, as a deployment with several workers should have (see
    # docs/queue_kafka.md). Until the topic's partitions setting was honoured this topic got
    # Tansu's default of four anyway; on one partition, four workers contending for every record
    # make Tansu's fetches (whose cost grows with the partition) slow enough that a replacement
    # worker's first replay can stall past the operation timeout.
    settings = kafka_settings(partitions=4)
    seeder = KafkaQueue(settings)
    ids: set[str] = set()
    for start in range(0, KILL_ITEMS, 2000):
        batch = [make_item(f"p{n}") for n in range(start, min(start + 2000, KILL_ITEMS))]
        ids |= {item.id for item, created in seeder.enqueue_many(batch) if created}
    assert len(ids) == KILL_ITEMS
    rng = random.Random(1234)
    workers = [Worker("work", settings, "3") for _ in range(4)]
    printed: list[str] = []

    def acked_so_far() -> int:
        return len(printed) + sum(max(0, len(w.lines) - 1) for w in workers)

    def acked_at_least(count: int) -> Callable[[], bool]:
        return lambda: acked_so_far() >= count

    kills, next_kill = 0, rng.randint(20, 150)
    while next_kill < KILL_ITEMS - 200:  # kill while there is work left to interrupt
        with Worker.progress:
            assert Worker.progress.wait_for(acked_at_least(next_kill), 120)
        victim = rng.randrange(len(workers))
        printed += workers[victim].kill()
        workers[victim] = Worker("work", settings, "3")
        # The seeder reads along, as a dashboard polling the queue would: left idle, its final
        # stats() would catch up on the whole run at once, and on Tansu a catch-up's cost grows
        # steeply and erratically with its length (one of 48,000 records took 14-320 s, see
        # docs/queue_kafka.md). That is how this test failed in CI.
        seeder.stats()
        kills += 1
        next_kill += rng.randint(20, 150)
    # The workers finish the rest (leases of the killed ones expire after 3 s). A killed worker
    # may have acked its last item without printing it: the queue's own figures say when done.
    deadline = time.monotonic() + 120
    while (stats := seeder.stats()).length + stats.in_flight > 0:
        assert time.monotonic() < deadline, stats
        with Worker.progress:
            Worker.progress.wait(1.0)  # woken by any ack, or look again after a second
    for worker in workers:
        printed += worker.kill()
    assert kills >= 10
    assert len(printed) == len(set(printed)), "an ack returned True twice for one item"
    assert set(printed) <= ids
    acked, pending = _winning_acks(settings)
    assert pending == 0
    assert set(acked) == ids, f"lost: {len(ids - set(acked))}"
    assert max(acked.values()) == 1
    seeder.close()
