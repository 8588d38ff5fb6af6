"""How long a handle's catch-up has waited: for one missing offset (a gap) and for any new
record at all (a stall). Both clocks are monotonic and injectable, so tests need no sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable

GAP_PATIENCE = 2.0  # seconds a missing offset may stay invisible before it is skipped
STALL_REFETCH = 1.0  # seconds without a new record before a catch-up first fetches again
STALL_REPORT = 5.0  # seconds without a new record before each refetch logs where it stands


class GapClock:
    """Per partition, the offset found missing and since when (Tansu can expose a later batch
    before an earlier one; an offset missing for GAP_PATIENCE seconds never comes)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first_seen: dict[int, tuple[int, float]] = {}

    def is_permanent(self, partition: int, missing: int) -> bool:
        """Whether offset ``missing`` of ``partition`` has stayed absent for GAP_PATIENCE s."""
        first = self._first_seen.get(partition)
        if first is None or first[0] != missing:
            self._first_seen[partition] = first = (missing, self._clock())
        return self._clock() - first[1] >= GAP_PATIENCE

    def forget(self, partition: int) -> None:
        """The partition moved on (or is fetched afresh): no offset is missing there now."""
        self._first_seen.pop(partition, None)


class StallClock:
    """One catch-up's progress: when it last saw a new record, and when to fetch again.

    The refetches come after 1, 3, 7, 15... times STALL_REFETCH without a record: each waits
    twice as long as the one before, because a refetch drops the fetch in flight, and on a
    broker slow enough that a fetch takes longer than a fixed interval every answer would be
    dropped before it came.
    """

    def __init__(
        self, progress: int, timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self.timeout = timeout
        self.progress = progress
        self.since = clock()
        self.refetched = 0

    def stalled(self, progress: int) -> float | None:
        """Seconds without progress when it is time to fetch again, else ``None``; raises
        TimeoutError once there was none for ``timeout`` seconds."""
        now = self._clock()
        if progress != self.progress:
            self.progress, self.since, self.refetched = progress, now, 0
            return None
        waited = now - self.since
        if waited > self.timeout:
            raise TimeoutError("the queue topic did not return the records before ours")
        if waited <= STALL_REFETCH * (2 ** (self.refetched + 1) - 1):
            return None
        self.refetched += 1
        return waited
