"""A test plugin whose periodic job records which process ran it.

Each run appends ``"<pid> <unix time>"`` to the file named by ``JUNCTION_TEST_SCHEDULER_RUNS``
(one short ``O_APPEND`` write, so lines from different processes never interleave).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.hookspecs import hookimpl

RUNS_FILE_ENV = "JUNCTION_TEST_SCHEDULER_RUNS"
INTERVAL_ENV = "JUNCTION_TEST_SCHEDULER_SECONDS"


def record_run() -> None:
    """Append this process's pid and the time to the runs file."""
    path = os.environ.get(RUNS_FILE_ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()} {time.time():.3f}\n".encode())
    finally:
        os.close(fd)


def read_runs(path: str | os.PathLike[str]) -> list[tuple[int, float]]:
    """The runs recorded so far, as ``(pid, unix time)`` in file order."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    runs = []
    for line in text.splitlines():
        pid, _, stamp = line.partition(" ")
        if pid and stamp:
            runs.append((int(pid), float(stamp)))
    return runs


@hookimpl
def junction_jobs(scheduler):
    """Record a run every ``JUNCTION_TEST_SCHEDULER_SECONDS`` (default 0.25 s)."""
    scheduler.add(record_run, seconds=float(os.environ.get(INTERVAL_ENV, "0.25")), id="probe")
