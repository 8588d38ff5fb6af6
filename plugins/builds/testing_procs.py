"""The process half of the backend contract: real consumer processes, SIGKILLed at random.

:class:`QueueProcessContract` is mixed into :class:`plugins.builds.testing.QueueBackendContract`.
It needs the fixture ``queue_process_spec``: JSON ``{"factory": "module:callable", "args":
{...}}`` with which a child process (:mod:`plugins.builds.queue_proc`) opens a handle on the
same queue as ``queue_backend_factory``, with the real clock.
"""

from __future__ import annotations

import json
import os
import queue as queue_module
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from plugins.builds.queue_base import QueueBackend
from plugins.builds.testing_fakes import ManualClock, make_item

ROOT = Path(__file__).resolve().parents[2]
STRESS_VISIBILITY = 2.0
HOLD_VISIBILITY = 60.0


class Consumer:
    """A child consumer process whose stdout lines (``L id`` / ``A id``) a thread collects."""

    def __init__(self, mode: str, spec: dict[str, Any], visibility: float, sink: Any) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plugins.builds.queue_proc",
                mode,
                json.dumps(spec),
                f"{visibility}",
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[tuple[str, str]] = []
        self._sink = sink
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            tag, _, item_id = line.strip().partition(" ")
            self.lines.append((tag, item_id))
            self._sink.put((self, tag, item_id))
        self._sink.put((self, "EOF", ""))

    def kill(self) -> None:
        """SIGKILL, then wait until every line it wrote has been read."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)

    def finish(self, timeout: float = 120) -> None:
        """Wait for a ``drain`` to end by itself."""
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=30)

    def in_doubt(self) -> str | None:
        """The item leased last if no ack line followed (killed between lease and ack)."""
        if self.lines and self.lines[-1][0] == "L":
            return self.lines[-1][1]
        return None


class Consumers:
    """Starts consumer processes (called like ``Consumer``) that all report to ``sink``."""

    def __init__(self) -> None:
        self.started: list[Consumer] = []
        self.sink: queue_module.Queue[Any] = queue_module.Queue()

    def __call__(self, mode: str, spec: dict[str, Any], visibility: float) -> Consumer:
        """Start one consumer process."""
        self.started.append(Consumer(mode, spec, visibility, self.sink))
        return self.started[-1]


class QueueProcessContract:
    """Consumer processes: exclusive leases, redelivery after SIGKILL, random kills."""

    promises_fifo: bool = True
    stress_items: int = 10_000
    stress_consumers: int = 2
    stress_kills: int = 6

    @pytest.fixture
    def consumers(self) -> Iterator[Consumers]:
        """Start consumer processes; any left running are killed at the end."""
        start = Consumers()
        yield start
        for consumer in start.started:
            if consumer.proc.poll() is None:
                consumer.kill()

    @pytest.fixture
    def real_queue(
        self, queue_backend_factory: Callable[[Callable[[], float]], QueueBackend]
    ) -> Iterator[QueueBackend]:
        """A handle with the wall clock, which the child processes also use."""
        handle = queue_backend_factory(time.time)
        yield handle
        handle.close()

    def test_two_consumer_processes_never_hold_the_same_item(
        self,
        real_queue: QueueBackend,
        queue_process_spec: dict[str, Any],
        consumers: Consumers,
    ) -> None:
        """Two processes draining at once: no item leased by both, each acked exactly once."""
        ids = {real_queue.enqueue(make_item(f"p{n}"))[0].id for n in range(1000)}
        procs = [consumers("drain", queue_process_spec, 3600.0) for _ in range(2)]
        sink = consumers.sink
        assert [sink.get(timeout=60)[1] for _ in procs] == ["R", "R"]
        for proc in procs:  # both are connected and waiting: start them together
            assert proc.proc.stdin is not None
            proc.proc.stdin.write("go\n")
            proc.proc.stdin.flush()
        for proc in procs:
            proc.finish()
            assert proc.proc.returncode == 0
        leased = [i for p in procs for tag, i in p.lines if tag == "L"]
        acked = [i for p in procs for tag, i in p.lines if tag == "A"]
        assert len(leased) == len(set(leased)) == len(ids)
        assert sorted(acked) == sorted(ids)
        assert all(any(tag == "L" for tag, _ in p.lines) for p in procs), (
            "the two consumers did not overlap"
        )
        stats = real_queue.stats()
        assert (stats.length, stats.in_flight) == (0, 0)

    def test_consumer_killed_between_lease_and_ack_is_redelivered(
        self,
        queue_backend_factory: Callable[[Callable[[], float]], QueueBackend],
        queue_process_spec: dict[str, Any],
        consumers: Consumers,
    ) -> None:
        """SIGKILL a process holding a lease: nobody gets the item while the lease holds; after
        its visibility timeout the item is delivered again (second attempt)."""
        clock = ManualClock(time.time())
        handle = queue_backend_factory(clock)
        try:
            item, _ = handle.enqueue(make_item("p0"))
            holder = consumers("hold", queue_process_spec, HOLD_VISIBILITY)
            sink = consumers.sink
            _proc, tag, held = sink.get(timeout=60)
            assert (tag, held) == ("L", item.id)
            holder.kill()
            assert handle.lease("survivor", 60) is None
            assert handle.stats().in_flight == 1
            clock.advance(HOLD_VISIBILITY * 10)  # child started within 9 minutes
            again = handle.lease("survivor", 60)
            assert again is not None and again.item.id == item.id and again.item.attempts == 2
            redeliveries = handle.stats().redeliveries
            assert redeliveries is None or redeliveries >= 1
            assert handle.ack(again.item.id, again.token)
        finally:
            handle.close()

    def test_random_kills_lose_nothing_and_ack_nothing_twice(
        self,
        real_queue: QueueBackend,
        queue_process_spec: dict[str, Any],
        consumers: Consumers,
    ) -> None:
        """``stress_items`` items, consumers SIGKILLed at random moments and replaced: at the end
        the queue is empty, every item was acked by someone (or by a killed consumer that died
        before it could say so), and no item was acked twice."""
        rng = random.Random(13)
        ids = {real_queue.enqueue(make_item(f"p{n}"))[0].id for n in range(self.stress_items)}
        assert len(ids) == self.stress_items
        sink = consumers.sink
        live = [
            consumers("consume", queue_process_spec, STRESS_VISIBILITY)
            for _ in range(self.stress_consumers)
        ]
        every = list(live)
        acked: set[str] = set()
        kills_at = sorted(rng.sample(range(1, self.stress_items), self.stress_kills))
        in_doubt: set[str] = set()
        deadline = time.monotonic() + 300
        while len(acked) + len(in_doubt - acked) < len(ids) or not self._drained(real_queue):
            assert time.monotonic() < deadline, f"stuck after {len(acked)} acks"
            try:
                _proc, tag, item_id = sink.get(timeout=0.5)
            except queue_module.Empty:
                continue
            if tag != "A":
                continue
            acked.add(item_id)
            if kills_at and len(acked) >= kills_at[0]:
                kills_at.pop(0)
                victim = live.pop(rng.randrange(len(live)))
                victim.kill()
                if (doubt := victim.in_doubt()) is not None:
                    in_doubt.add(doubt)
                live.append(consumers("consume", queue_process_spec, STRESS_VISIBILITY))
                every.append(live[-1])
        for consumer in live:
            consumer.kill()
        lines = [i for c in every for tag, i in c.lines if tag == "A"]
        assert len(lines) == len(set(lines)), "an item was acked twice"
        assert set(lines) <= ids
        assert ids - set(lines) <= in_doubt, "an item was lost"
        assert len(every) == self.stress_consumers + self.stress_kills

    @staticmethod
    def _drained(handle: QueueBackend) -> bool:
        stats = handle.stats()
        return stats.length == 0 and stats.in_flight == 0
