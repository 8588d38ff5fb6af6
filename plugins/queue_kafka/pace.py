"""How fast other handles are draining a partition: whether leasing there would help.

A handle that leases from a partition another handle is working interleaves its records with
that handle's, and from then on each of the two finds the other's records before its own at
every operation and fetches them (on Tansu a fetch costs in proportion to the partition's
length). That costs a few milliseconds per operation, more than a fast worker's whole
lease+ack. Helping therefore pays only where the other worker spends longer than that on an
item (a build) or has stopped: a worker that acks every millisecond drains its partition faster
alone than with helpers (measured: four workers on the last busy partition of a benchmark
drained it more slowly than its one worker had, docs/queue_kafka.md).

:class:`Pace` keeps, per partition, the clock readings of the last acks other handles made
there (from the records, which carry their writer's clock). :class:`Paces` keeps them fresh:
from the records the handle applies, and by peeking at a partition's last records when it has
not read there for PEEK_EVERY seconds (:mod:`plugins.queue_kafka.peek`), which costs a few
milliseconds where catching the view up could mean reading thousands of records.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

# Reads the last records of some partitions: ``{partition: [(offset, value), ...]}``.
Peek = Callable[[list[int]], dict[int, list[tuple[int, bytes]]]]

# A partition whose other workers ack more often than this (seconds between acks, and since
# the last one) is left to them: a contended operation costs a fetch of a few milliseconds,
# and a build takes seconds.
HELP_MIN_INTERVAL = 0.2
WINDOW = 8  # how many of the last acks the pace is taken over
PEEK_EVERY = 0.25  # seconds after which what the handle knows of a partition is refreshed
OWN_REMEMBERED = 64  # the handle's own last offsets per partition that a peek skips


class Pace:
    """The last acks other handles made in one partition, by their records' clock."""

    def __init__(self) -> None:
        self._acks: deque[float] = deque(maxlen=WINDOW)

    def note_ack(self, when: float) -> None:
        """Another handle's ack record, written at ``when`` by its clock, was read (one read
        again by a peek, or older than the last, is ignored)."""
        if not self._acks or when > self._acks[-1]:
            self._acks.append(when)

    def interval(self, now: float, unseen: float = 0.0) -> float:
        """Seconds between the others' acks: their mean over the window, or the time since
        the last one if longer (the worker stopped, or is on a long item); infinite if none
        was seen. ``unseen``: seconds since the handle last read the partition, which do not
        count as a silence it saw."""
        if not self._acks:
            return math.inf
        since = now - self._acks[-1] - (0.0 if math.isinf(unseen) else unseen)
        if len(self._acks) < 2:
            return since
        mean = (self._acks[-1] - self._acks[0]) / (len(self._acks) - 1)
        return max(mean, since)


class Paces:
    """Every partition's :class:`Pace` as this handle knows it (see the module docstring)."""

    def __init__(self, partitions: int, peek: Peek, clock: Callable[[], float] = time.time) -> None:
        self._paces = {p: Pace() for p in range(partitions)}
        self._own: dict[int, deque[int]] = {p: deque(maxlen=OWN_REMEMBERED) for p in self._paces}
        self._read_at: dict[int, float] = {}  # when the handle last read each partition
        self._peek = peek
        self._clock = clock
        self.peeks = 0  # partitions peeked at (the tests read it)

    def own(self, partition: int, offset: int) -> None:
        """A record of this handle landed at ``offset`` (a peek must not count its acks)."""
        self._own[partition].append(offset)

    def applied(self, partition: int, record: dict[str, Any]) -> None:
        """Another handle's record was applied (in log order) in ``partition``."""
        self._read_at[partition] = self._clock()
        self._note(partition, record)

    def worth_helping(self, partitions: list[int], now: float) -> list[int]:
        """Those of ``partitions`` where this handle should lease too: no other handle acks
        there every HELP_MIN_INTERVAL or faster. Partitions not read for PEEK_EVERY seconds
        are peeked at first."""
        stale = [p for p in partitions if self._unseen(p) >= PEEK_EVERY]
        if stale:
            self.peeks += len(stale)
            tails = self._peek(stale)
            for p in stale:
                self._read_at[p] = self._clock()
                for offset, value in tails.get(p, []):
                    if offset not in self._own[p]:
                        self._note_peeked(p, value)
        return [
            p
            for p in partitions
            if self._paces[p].interval(now, self._unseen(p)) >= HELP_MIN_INTERVAL
        ]

    def _unseen(self, partition: int) -> float:
        """Seconds since the handle last read ``partition`` (infinite: never)."""
        read_at = self._read_at.get(partition)
        return math.inf if read_at is None else self._clock() - read_at

    def _note_peeked(self, partition: int, value: bytes) -> None:
        try:
            record = orjson.loads(value)
        except ValueError:
            return
        if isinstance(record, dict):
            self._note(partition, record)

    def _note(self, partition: int, record: dict[str, Any]) -> None:
        if record.get("op") == "ack":
            self._paces[partition].note_ack(_when(record))


def _when(record: dict[str, Any]) -> float:
    try:
        return float(record.get("now") or 0.0)
    except (TypeError, ValueError):
        return 0.0
