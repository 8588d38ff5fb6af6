"""Child processes that die with their owner, and signals only to processes that are ours.

Linux-first: ``PR_SET_PDEATHSIG`` (through ``prctl``) makes the kernel signal a child when the
thread that forked it ends, so a SIGKILLed runner takes its children along. A pid is signalled
only after checking, through ``/proc/<pid>/stat``, that it still is the process we started
(same start time): pids are reused.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: ask the kernel to SIGKILL this child when its parent thread ends."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):  # no libc found: the child merely outlives us
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of ``pid`` from ``/proc``; None if gone.

    The command name (field 2) may hold spaces and parentheses, so fields are counted after
    the last ``)``.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of stat; fields[0] here is field 3
    except (IndexError, ValueError):
        return None


def is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but not been reaped."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2 :].startswith("Z")


def still_ours(pid: int, started: int | None) -> bool:
    """Whether ``pid`` is still the process that had start time ``started``."""
    if pid <= 1:
        return False
    if started is None or not Path("/proc").is_dir():
        # No /proc (not Linux): only a signal-0 probe is possible.
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return start_time(pid) == started


def signal_group(pid: int, started: int | None, signum: int) -> bool:
    """Send ``signum`` to the process group led by ``pid`` if it is still ours; True if sent."""
    if not still_ours(pid, started):
        return False
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def signal_process(pid: int, started: int | None, signum: int) -> bool:
    """Send ``signum`` to ``pid`` if it is still ours; True if sent."""
    if not still_ours(pid, started):
        return False
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
