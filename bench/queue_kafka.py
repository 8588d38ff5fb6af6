"""The ``kafka`` build-queue backend beside the raw confluent-kafka client, on a Tansu broker
started here (in memory, loopback).

- enqueue: ``KafkaQueue.enqueue`` one item at a time (returns once the record is durable and
  its dedup outcome known) vs the raw idempotent producer doing ``produce`` + ``flush`` per
  message (durable, ``acks=all``); the raw batched producer is printed for context;
- lease+ack with 1 and 4 consumer processes: ``lease`` + ``ack`` until the queue is empty vs raw
  consumers that ``poll`` a message and ``commit`` its offset synchronously (the raw
  at-least-once ack), each assigned a partition (4 partitions for 4 consumers, both sides).

Context rows (not ratios): the raw producer batched; the raw producer reading each record back
with a consumer before the next (what a read-your-own-write costs on this broker); and two
records produced durably one after the other per item (the floor of the backend's previous
design, whose lease and ack were each a durable produce; now the ack carries the next lease).

For lease+ack the CPU each side spent per item is printed too: the broker's (Tansu's process,
from ``/proc``) and the consumer processes' (all their threads). On a machine whose cores the
broker and the consumers share, the ratio of rates follows the ratio of these sums.

Each scenario of each round runs on a Tansu broker of its own (``--one-broker``: all on one, as
before stop 23): Tansu's cost per produce grows with the number of idempotent producers it has
seen, and every scenario registers several.

``python bench/queue_kafka.py [--items 2000] [--rounds 3] [--one-broker]``. The goal is at least
half the raw rate. Each round runs every scenario, ours then raw, and the ratio printed is the
median of the rounds' ratios: on a shared VM the raw client's rate alone moves by half between
runs seconds apart, and a single pair can land on either side of the goal.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench._common import process_cpu_seconds
from plugins.builds.queue_base import QueueItem
from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.config import KafkaSettings
from plugins.queue_kafka.tansu import TansuBroker


def _item(n: int) -> QueueItem:
    return QueueItem(id=uuid.uuid4().hex, package=f"pkg{n}", version="1.0", python_tag="cp312")


def _settings(bootstrap: str, partitions: int = 1) -> KafkaSettings:
    name = f"bench{uuid.uuid4().hex[:8]}"
    return KafkaSettings(bootstrap, f"{name}.queue", f"{name}.workers", partitions)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_enqueue(bootstrap: str, items: int, context: bool = True) -> dict[str, float]:
    """Items per second: the backend, the raw producer per message (and, with ``context``, the
    raw producer batched and reading its own records back)."""
    queue = KafkaQueue(_settings(bootstrap))
    queue.enqueue(_item(-1))  # the producer id and the consumer's first fetch, out of the clock
    start = time.perf_counter()
    for n in range(items):
        queue.enqueue(_item(n))
    ours = _rate(items, time.perf_counter() - start)
    queue.close()

    topic = f"raw{uuid.uuid4().hex[:8]}"
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 0}
    )
    producer.produce(topic, b"warm-up", partition=0)
    producer.flush(30)
    payload = b'{"op":"put","item":{"package":"pkg","version":"1.0"}}'
    start = time.perf_counter()
    for _ in range(items):
        producer.produce(topic, payload, partition=0)
        producer.flush(30)
    raw = _rate(items, time.perf_counter() - start)
    if not context:
        return {"ours": ours, "raw": raw}
    start = time.perf_counter()
    for _ in range(items):
        producer.produce(topic, payload, partition=0)
        producer.poll(0)
    producer.flush(30)
    batched = _rate(items, time.perf_counter() - start)
    read_back = _read_back(bootstrap)
    return {"ours": ours, "raw": raw, "raw_batched": batched, "raw_read_back": read_back}


def _offset(message: Message) -> int:
    """The offset of a produced or consumed record (None only on an error event)."""
    offset = message.offset()
    assert offset is not None, message.error()
    return offset


def _read_back(bootstrap: str, count: int = 300) -> float:
    """Records per second produced durably and each read back by a consumer before the next."""
    topic = f"rb{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic}.g", "fetch.wait.max.ms": 5}
    )
    producer.produce(topic, b"warm-up", partition=0)
    producer.flush(30)
    consumer.assign([TopicPartition(topic, 0, 0)])
    while consumer.poll(1) is None:
        pass
    offsets: list[int] = []
    start = time.perf_counter()
    for _ in range(count):
        producer.produce(
            topic, b"x" * 120, partition=0, on_delivery=lambda e, m: offsets.append(_offset(m))
        )
        producer.flush(30)
        while (msg := consumer.poll(1)) is None or _offset(msg) < offsets[-1]:
            pass
    rate = _rate(count, time.perf_counter() - start)
    consumer.close()
    return rate


def _ours_worker(settings: KafkaSettings, go: Any, ready: Any, results: Any) -> None:
    queue = KafkaQueue(settings)
    queue.sync()
    ready.put(1)
    go.wait()
    cpu = time.process_time()
    done = 0
    while (lease := queue.lease("bench", 600)) is not None:
        done += queue.ack(lease.item.id, lease.token)
    results.put((done, time.process_time() - cpu))
    queue.close()


def _raw_worker(
    bootstrap: str, topic: str, partition: int, count: int, go: Any, ready: Any, results: Any
) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}.raw",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.assign([TopicPartition(topic, partition, 0)])
    first = consumer.poll(30)  # warm: connected and fetching
    ready.put(1)
    go.wait()
    cpu = time.process_time()
    done = 0
    pending = [first] if first is not None else []
    # Stops at the partition's last record: waiting to see that nothing more comes would add
    # idle fetches to the broker's CPU (and the wait to the time).
    while done < count:
        msg = pending.pop() if pending else consumer.poll(30)
        if msg is None:
            break  # a record never came: the rate shows it
        if msg.error() is None:
            consumer.commit(message=msg, asynchronous=False)
            done += 1
    results.put((done, time.process_time() - cpu))
    consumer.close()


def _floor_worker(
    bootstrap: str, topic: str, partition: int, count: int, go: Any, ready: Any, results: Any
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    producer.produce(topic, b"warm-up", partition=partition)
    producer.flush(30)
    ready.put(1)
    go.wait()
    done = 0
    for _ in range(count):
        for _record in ("lease", "ack"):
            producer.produce(topic, b"x" * 120, partition=partition)
            producer.flush(30)
        done += 1
    results.put((done, 0.0))


@dataclass
class Timed:
    """Items done by a set of processes, the wall time, and the CPU seconds they and the
    broker used meanwhile (``None`` where unknown)."""

    done: int
    elapsed: float
    clients_cpu: float
    broker_cpu: float | None

    def cpu_per_item_us(self) -> tuple[float, float | None]:
        """The consumers' and the broker's CPU per item, in microseconds."""
        broker = None if self.broker_cpu is None else self.broker_cpu / self.done * 1e6
        return self.clients_cpu / self.done * 1e6, broker


def _timed(
    processes: Sequence[BaseProcess], go: Any, ready: Any, results: Any, broker_pid: int
) -> Timed:
    for proc in processes:
        proc.start()
    for _ in processes:
        ready.get(timeout=60)
    broker_before = process_cpu_seconds(broker_pid)
    start = time.perf_counter()
    go.set()
    reports = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - start
    broker_after = process_cpu_seconds(broker_pid)
    for proc in processes:
        proc.join(timeout=60)
    broker = None
    if broker_before is not None and broker_after is not None:
        broker = broker_after - broker_before
    return Timed(sum(r[0] for r in reports), elapsed, sum(r[1] for r in reports), broker)


def _cpu_figures(side: str, timed: Timed) -> dict[str, float]:
    clients, broker = timed.cpu_per_item_us()
    figures = {f"{side}_clients_cpu_us": clients}
    if broker is not None:
        figures[f"{side}_broker_cpu_us"] = broker
    return figures


def bench_lease_ack(
    broker: TansuBroker, items: int, consumers: int, context: bool = True
) -> dict[str, float]:
    """Items per second leased and acked by ``consumers`` processes, ours and raw (and, with
    ``context``, two durable raw produces per item)."""
    ctx = mp.get_context("spawn")
    assert broker.process is not None, "the broker is started"
    bootstrap, pid = broker.bootstrap, broker.process.pid
    settings = _settings(bootstrap, partitions=consumers)
    seeder = KafkaQueue(settings)
    seeder.enqueue_many([_item(n) for n in range(items)])
    seeder.close()
    go, ready, results = ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(target=_ours_worker, args=(settings, go, ready, results))
        for _ in range(consumers)
    ]
    timed = _timed(procs, go, ready, results, pid)
    assert timed.done == items, (timed.done, items)
    ours = _rate(timed.done, timed.elapsed)
    cpu = _cpu_figures("ours", timed)

    topic = f"raw{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=consumers)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for n in range(items):
        producer.produce(topic, b"x" * 120, partition=n % consumers)
        producer.poll(0)
    producer.flush(60)
    go, ready, results = ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_raw_worker,
            args=(bootstrap, topic, p, len(range(p, items, consumers)), go, ready, results),
        )
        for p in range(consumers)
    ]
    timed = _timed(procs, go, ready, results, pid)
    assert timed.done == items, (timed.done, items)
    raw = _rate(timed.done, timed.elapsed)
    cpu |= _cpu_figures("raw", timed)
    if not context:
        return {"ours": ours, "raw": raw, **cpu}
    go, ready, results = ctx.Event(), ctx.Queue(), ctx.Queue()
    share = items // consumers
    procs = [
        ctx.Process(target=_floor_worker, args=(bootstrap, topic, p, share, go, ready, results))
        for p in range(consumers)
    ]
    timed = _timed(procs, go, ready, results, pid)
    return {"ours": ours, "raw": raw, "raw_floor": _rate(timed.done, timed.elapsed), **cpu}


CONTEXT = {
    "raw_batched": "  (raw batched produce, for context)",
    "raw_read_back": "  (raw produce + read own record back)",
    "raw_floor": "  (raw: 2 durable produces per item)",
}


@contextlib.contextmanager
def _broker(shared: TansuBroker | None) -> Iterator[TansuBroker]:
    """``shared``, or a broker of the scenario's own: Tansu's cost per produce grows with every
    idempotent producer it has seen (about 1.5 µs per producer here), so on one broker the
    scenarios before would tax the next one's produces, ours more than the raw consumers'
    commits (docs/queue_kafka.md)."""
    if shared is not None:
        yield shared
        return
    with TansuBroker() as broker:
        yield broker


def main() -> None:
    """Print the figures and the ratios (medians over the rounds)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each scenario runs, ours and raw alternately"
    )
    parser.add_argument(
        "--one-broker",
        action="store_true",
        help="every scenario on one broker, as before stop 23 (see the docstring)",
    )
    args = parser.parse_args()
    scenarios: dict[str, list[dict[str, float]]] = {}
    shared = TansuBroker().start() if args.one_broker else None
    try:
        for round_ in range(args.rounds):
            context = round_ == 0  # the context rows once: they are not ratios
            with _broker(shared) as broker:
                scenarios.setdefault("enqueue", []).append(
                    bench_enqueue(broker.bootstrap, args.items, context)
                )
            for consumers in (1, 4):
                with _broker(shared) as broker:
                    scenarios.setdefault(f"lease+ack x{consumers}", []).append(
                        bench_lease_ack(broker, args.items, consumers, context)
                    )
    finally:
        if shared is not None:
            shared.stop()
    print(
        f"queue_kafka on Tansu, {args.items} items per scenario (items/s), "
        f"median of {args.rounds} rounds (ratio: median of each round's ratio)"
    )
    print(f"{'scenario':<16}{'kafka backend':>15}{'raw client':>12}{'ratio':>8}  rounds' ratios")
    for name, runs in scenarios.items():
        ours = statistics.median(run["ours"] for run in runs)
        raw = statistics.median(run["raw"] for run in runs)
        ratios = [run["ours"] / run["raw"] for run in runs]
        each = "/".join(f"{r:.2f}" for r in ratios)
        print(f"{name:<16}{ours:>15.0f}{raw:>12.0f}{statistics.median(ratios):>8.2f}  {each}")
        for key, label in CONTEXT.items():
            if key in runs[0]:
                print(f"{label:<43}{runs[0][key]:>.0f}")
        if "ours_clients_cpu_us" in runs[0]:
            print("  CPU per item, µs (median): " + _cpu_line(runs))


def _cpu_line(runs: list[dict[str, float]]) -> str:
    """``ours broker B + consumers C = T; raw ...`` with medians over the rounds."""
    parts = []
    for side in ("ours", "raw"):
        clients = statistics.median(run[f"{side}_clients_cpu_us"] for run in runs)
        brokers = [run[f"{side}_broker_cpu_us"] for run in runs if f"{side}_broker_cpu_us" in run]
        if brokers:
            broker = statistics.median(brokers)
            parts.append(
                f"{side} broker {broker:.0f} + consumers {clients:.0f} = {broker + clients:.0f}"
            )
        else:
            parts.append(f"{side} consumers {clients:.0f}")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
