"""The file queue backend: the shared contract, torn writes, compaction, several processes and
SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugins.builds.queue_file import JOURNAL, FileQueue
from plugins.builds.testing import ManualClock, QueueBackendContract, make_item

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free

ROOT = Path(__file__).resolve().parents[3]


class TestFileQueueContract(QueueBackendContract):
    """The contract every backend keeps, on the file backend."""

    @pytest.fixture
    def queue_dir(self, tmp_path: Path) -> Iterator[Path]:
        """The queue folder: in tmpfs where there is one, since the suite survives SIGKILLs
        (the page cache outlives a killed process) and fsync on a disk would make its 10,000
        items take minutes; the fsync path is covered by the tests below, on disk."""
        shm = Path("/dev/shm")
        if not (shm.is_dir() and os.access(shm, os.W_OK)):
            yield tmp_path / "q"
            return
        directory = Path(tempfile.mkdtemp(prefix="junction-queue-", dir=shm))
        yield directory
        shutil.rmtree(directory, ignore_errors=True)

    @pytest.fixture
    def queue_backend_factory(self, queue_dir: Path):
        """Handles on one queue folder."""
        return lambda clock: FileQueue(queue_dir, clock)

    @pytest.fixture
    def queue_process_spec(self, queue_dir: Path) -> dict:
        """How a consumer process opens the same folder."""
        return {
            "factory": "plugins.builds.queue_file:FileQueue",
            "args": {"directory": str(queue_dir)},
        }


def _proc(mode: str, directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.plugins.builds.queue_worker_proc", mode, str(directory)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_ids(proc: subprocess.Popen[str], count: int) -> list[str]:
    assert proc.stdout is not None
    return [proc.stdout.readline().strip() for _ in range(count)]


def test_torn_tail_is_dropped(tmp_path: Path) -> None:
    """A record cut short by a killed writer is ignored and removed by the next writer."""
    queue = FileQueue(tmp_path)
    kept, _ = queue.enqueue(make_item("kept"))
    with open(tmp_path / JOURNAL, "ab") as handle:
        handle.write(b'{"op":"put","item":{"id":"torn","package":"to')
    other = FileQueue(tmp_path)
    assert [i.id for i in other.items(10, 0)] == [kept.id]
    _added, created = other.enqueue(make_item("after"))
    assert created
    assert {i.package for i in FileQueue(tmp_path).items(10, 0)} == {"kept", "after"}
    assert (tmp_path / JOURNAL).read_bytes().endswith(b"\n")


def test_compaction_keeps_state_for_other_handles(tmp_path: Path) -> None:
    """Compaction rewrites the journal (new file) and every handle still sees the same queue."""
    clock = ManualClock()
    writer, reader = FileQueue(tmp_path, clock), FileQueue(tmp_path, clock)
    live = [writer.enqueue(make_item(f"live{n}"))[0].id for n in range(3)]
    held = [writer.lease("holder", 3600) for _ in live]  # kept in flight through compactions
    reader.stats()
    inode = (tmp_path / JOURNAL).stat().st_ino
    for n in range(400):
        writer.enqueue(make_item(f"tmp{n}"))
        lease = writer.lease("w", 60)
        assert lease is not None
        assert writer.ack(lease.item.id, lease.token)
    assert (tmp_path / JOURNAL).stat().st_ino != inode  # compacted at least once
    assert (tmp_path / JOURNAL).stat().st_size < 100_000
    remaining = {i.id for i in reader.items(1000, 0)}
    assert set(live) <= remaining and len(remaining) == 3
    assert reader.stats().in_flight == 3
    assert all(lease is not None and reader.ack(lease.item.id, lease.token) for lease in held)


def test_two_processes_drain_each_item_once(tmp_path: Path) -> None:
    """Two concurrent worker processes: every item acknowledged exactly once."""
    queue = FileQueue(tmp_path)
    ids = {queue.enqueue(make_item(f"p{n}"))[0].id for n in range(150)}
    procs = [_proc("drain", tmp_path), _proc("drain", tmp_path)]
    served: list[str] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        served += out.split()
        assert proc.returncode == 0
    assert sorted(served) == sorted(ids)
    assert queue.stats().length == 0


def test_sigkilled_writer_loses_nothing(tmp_path: Path) -> None:
    """Kill a writer mid-stream (SIGKILL, several times): every id it was given back is on the
    queue, the journal stays readable and writable, nothing appears twice."""
    confirmed: list[str] = []
    for round_ in range(4):
        proc = _proc("enqueue", tmp_path)
        confirmed += _read_ids(proc, 30 + 7 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stdout is not None
        confirmed += proc.stdout.read().split()  # given back before the kill landed
    queue = FileQueue(tmp_path)
    present = [i.id for i in queue.items(100_000, 0)]
    assert len(present) == len(set(present))
    assert set(confirmed) <= set(present)
    assert queue.enqueue(make_item("after-the-kills"))[1]


def test_sigkilled_leaser_serves_nothing_twice(tmp_path: Path) -> None:
    """Kill a process holding leases: its items are not served to anyone else before their
    visibility timeout, and are served again after it (at-least-once)."""
    queue = FileQueue(tmp_path)
    ids = {queue.enqueue(make_item(f"p{n}"))[0].id for n in range(40)}
    proc = _proc("lease", tmp_path)
    held = set(_read_ids(proc, 10))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.stdout is not None
    held |= set(proc.stdout.read().split())  # leased (and printed) before the kill landed
    served = set()
    while (lease := queue.lease("survivor", 60)) is not None:
        served.add(lease.item.id)
    assert not served & held
    # The killed process may have leased one more item before it could print it.
    assert len(ids - served - held) <= 1
    later = FileQueue(tmp_path, clock=lambda: 2e10)  # long after every lease expired
    again = set()
    while (lease := later.lease("survivor", 60)) is not None:
        again.add(lease.item.id)
    assert held <= again
