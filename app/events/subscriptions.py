"""A consumer's subscription: replay from a cursor, then live events through a bounded queue."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from app.events.log import REPLAY_PAGE, Gap, Item, LogEvent, read_after
from app.events.wire import FrameSink


class Feed(Protocol):
    """What a subscription needs from whoever feeds it (the :class:`~app.events.hub.Hub`)."""

    @property
    def engine(self) -> Engine:
        """The engine the log is read from."""

    def go_live(self, sub: Subscription) -> bool:
        """Switch ``sub`` from replay to live if the feed is not ahead of it."""

    def rewind(self, sub: Subscription, after: int) -> None:
        """Put ``sub`` back into replay from ``after``."""

    def unregister(self, sub: Subscription) -> None:
        """Forget ``sub``."""


class Subscription:
    """A consumer's view of some channels: replay from a cursor, then live, bounded.

    Use :meth:`get` (a batch, waiting up to ``timeout``) or iterate (blocking forever; items are
    event dicts and ``{"type": "dropped", "count", "next_id"}`` notices). Close it when done.
    Not thread-safe for several consumers; the hub feeds it from its own thread.

    With a ``sink`` (a WebSocket's :class:`~app.events.wire.FrameSink`) the hub writes live
    events straight to the client's socket while nothing is queued or being sent, and queues
    them otherwise; the consumer then sends what :meth:`get_items` returns and calls
    :meth:`sent`, and the order on the wire stays the order of ids.
    """

    def __init__(
        self,
        hub: Feed,
        channels: Iterable[str],
        after: int,
        queue_size: int,
        wake: threading.Event | None = None,
        sink: FrameSink | None = None,
    ) -> None:
        self.hub = hub
        self.channels = frozenset(channels)
        self.queue_size = queue_size
        #: The id of the last event queued, dropped or replayed.
        self.cursor = after
        #: Events dropped so far because the queue was full.
        self.dropped = 0
        self.closed = False
        self._queue: deque[Item] = deque()
        self._queued_events = 0
        self._lock = threading.Lock()
        # The consumer may share its wake-up event (a WebSocket wakes on incoming messages too).
        self._wake = wake or threading.Event()
        self._live = False
        self._sink = sink if sink is not None and sink.direct else None
        # The consumer holds items taken from the queue and not yet written.
        self._sending = False

    # -- hub side --

    def offer(self, event: LogEvent, direct: bool = False) -> None:
        """Queue ``event`` (called by the hub's dispatcher); a full queue records a gap.

        ``direct``: the event was pushed by a notification (not read from the log), so with a
        sink it goes straight to the client's socket when nothing is queued before it. Events
        read from the log (gaps, polls, bursts) always pass through the bounded queue.
        """
        if event.id <= self.cursor:
            return
        with self._lock:
            self.cursor = event.id
            sink = self._sink
            if (
                direct
                and sink is not None
                and not self._queue
                and not self._sending
                and sink.try_write(event.frame())
            ):
                if sink.pending or sink.broken:
                    self._wake.set()  # the consumer finishes the frame or notices the end
                return
            if self._queued_events >= self.queue_size:
                self.dropped += 1
                last = self._queue[-1] if self._queue else None
                if isinstance(last, Gap):
                    last.count += 1
                else:
                    self._queue.append(Gap(event.id))
            else:
                self._queue.append(event)
                self._queued_events += 1
        self._wake.set()

    # -- consumer side --

    @property
    def live(self) -> bool:
        """Whether the replay is over and the hub feeds this subscription."""
        return self._live

    def get_items(self, timeout: float | None = None) -> list[Item]:
        """The next batch of :class:`LogEvent` / :class:`Gap`; ``[]`` after ``timeout`` or when
        woken for another reason (a shared wake event)."""
        if self.closed:
            return []
        if not self._live:
            items = self._replay()
            if items or not self._live:
                return items
        with self._lock:
            if self._queue:
                return self._drain()
        self._wake.wait(timeout)
        self._wake.clear()
        with self._lock:
            return self._drain()

    def get(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Like :meth:`get_items`, as dicts."""
        return [item.as_dict() for item in self.get_items(timeout)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self.closed:
            yield from self.get(timeout=1.0)

    def seek(self, after: int) -> None:
        """Restart from ``after``: drop what is queued and replay the log from there."""
        self.hub.rewind(self, after)

    def close(self) -> None:
        """Stop receiving; the hub forgets this subscription."""
        if not self.closed:
            self.closed = True
            self.hub.unregister(self)
            self._wake.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sent(self) -> None:
        """The consumer has written the items it took: the hub may write directly again."""
        with self._lock:
            self._sending = False

    def _drain(self) -> list[Item]:
        items = list(self._queue)
        self._queue.clear()
        self._queued_events = 0
        if items and self._sink is not None:
            self._sending = True
        return items

    def _replay(self) -> list[Item]:
        # Read the log from the cursor; once a read comes back empty and the dispatcher has not
        # got ahead of us, switch to live (the hub checks that under its lock).
        for _ in range(5):
            events, cursor = read_after(self.channels, self.cursor, REPLAY_PAGE, self.hub.engine)
            self.cursor = max(self.cursor, cursor)
            if events:
                return list(events)
            if self.hub.go_live(self):
                return []
        return []

    def _reset(self, after: int) -> None:
        with self._lock:
            self._queue.clear()
            self._queued_events = 0
            self.cursor = after
            self._live = False
        self._wake.set()
