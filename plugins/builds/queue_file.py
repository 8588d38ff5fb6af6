"""The ``file`` build-queue backend: a journal of JSON lines in a folder, safe for several
processes and for processes killed at any instruction.

Every operation takes an exclusive ``flock`` on ``queue.lock``, brings its in-memory state up to
date from the journal (reading only what other processes appended since its last look, or all
of it after a compaction replaced the file), appends one record with a single ``write`` and
``fsync``\\s it, then releases the lock. A record is the truth once ``fsync`` returned: an
``enqueue`` or ``lease`` returns only after that, so a process killed before it lost nothing
anyone was told about, and one killed after it left a durable record.

A process killed *during* the ``write`` leaves a torn last line. Since the lock is released by
the kernel only when its holder is dead, the next holder knows nobody is writing: it drops the
torn tail (truncating the file to the last complete line) before appending.

Compaction writes the live items to ``journal.tmp``, ``fsync``\\s it, renames it over the journal
(atomic) and ``fsync``\\s the folder; a process killed in between leaves either the old or the
new journal, both complete.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plugins.builds.queue_base import Clock, Lease, QueueItem, QueueOptions, QueueStats

JOURNAL = "journal.jsonl"
LOCK = "queue.lock"
COMPACT_MIN_RECORDS = 1000


class FileQueue:
    """A durable queue in ``directory`` (see the module docstring)."""

    name = "file"
    supports_clear = True

    def __init__(self, directory: Path | str, clock: Clock | None = None) -> None:
        import time

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock or time.time
        self._journal = self.directory / JOURNAL
        self._lock_fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        self._items: dict[str, QueueItem] = {}
        self._tokens: dict[str, str] = {}
        self._seq = 0
        self._inode: int | None = None
        self._offset = 0
        self._records = 0

    # -- journal ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._refresh()
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _refresh(self) -> None:
        try:
            stat = self._journal.stat()
        except FileNotFoundError:
            self._reset(None)
            return
        if stat.st_ino != self._inode or stat.st_size < self._offset:
            self._reset(stat.st_ino)
        if stat.st_size == self._offset:
            return
        with open(self._journal, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        good = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except ValueError:
                break
            self._apply(record)
            good += len(line)
        self._offset += good
        if good < len(data):
            # A torn record of a writer killed mid-write (we hold the lock, so it is dead).
            with open(self._journal, "r+b") as handle:
                handle.truncate(self._offset)
                os.fsync(handle.fileno())

    def _reset(self, inode: int | None) -> None:
        self._items, self._tokens = {}, {}
        self._inode, self._offset, self._records, self._seq = inode, 0, 0, 0

    def _apply(self, record: dict[str, Any]) -> None:
        self._records += 1
        op = record["op"]
        if op == "put":
            item = QueueItem.from_dict(record["item"])
            self._items[item.id] = item
            if record.get("token"):
                self._tokens[item.id] = record["token"]
            self._seq = max(self._seq, int(record.get("seq", 0)))
        elif op == "lease" and record["id"] in self._items:
            item = self._items[record["id"]]
            item.leased_until = record["until"]
            item.attempts = record["attempts"]
            self._tokens[item.id] = record["token"]
        elif op == "release" and record["id"] in self._items:
            item = self._items[record["id"]]
            item.leased_until = None
            item.available_at = record["available_at"]
            self._tokens.pop(item.id, None)
        elif op == "del":
            self._items.pop(record["id"], None)
            self._tokens.pop(record["id"], None)
        elif op == "clear":
            self._items.clear()
            self._tokens.clear()

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if self._inode is None:
                self._inode = os.fstat(fd).st_ino
            written = os.write(fd, line)
            if written != len(line):  # a short write (disk full): cut it off, fail loudly
                os.ftruncate(fd, self._offset)
                raise OSError("short write to the queue journal")
            os.fsync(fd)
        finally:
            os.close(fd)
        self._offset += len(line)
        self._apply(record)
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        if self._records < COMPACT_MIN_RECORDS or self._records < 4 * (len(self._items) + 1):
            return
        tmp = self.directory / "journal.tmp"
        with open(tmp, "wb") as handle:
            for item in sorted(self._items.values(), key=lambda i: i.enqueued_at):
                record = {"op": "put", "item": item.as_dict(), "seq": self._seq}
                if item.id in self._tokens:
                    record["token"] = self._tokens[item.id]
                handle.write((json.dumps(record, separators=(",", ":")) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._journal)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        stat = self._journal.stat()
        self._inode, self._offset, self._records = stat.st_ino, stat.st_size, len(self._items)

    # -- the backend interface -------------------------------------------------------------

    def _available(self, item: QueueItem, now: float) -> bool:
        if item.leased_until is not None and item.leased_until > now:
            return False
        return item.available_at <= now

    def enqueue(self, item: QueueItem) -> tuple[QueueItem, bool]:
        """Add ``item`` unless its key is queued or leased."""
        with self._locked():
            for existing in self._items.values():
                if existing.key == item.key:
                    return existing, False
            now = self.clock()
            item.enqueued_at = item.enqueued_at or now
            item.available_at = item.available_at or item.enqueued_at
            self._append({"op": "put", "item": item.as_dict(), "seq": self._seq + 1})
            return self._items[item.id], True

    def lease(self, worker: str, visibility_timeout: float) -> Lease | None:
        """The oldest available item, leased until ``now + visibility_timeout``."""
        with self._locked():
            now = self.clock()
            ready = [i for i in self._items.values() if self._available(i, now)]
            if not ready:
                return None
            item = min(ready, key=lambda i: (i.available_at, i.enqueued_at))
            token = secrets.token_hex(16)
            until = now + visibility_timeout
            self._append(
                {
                    "op": "lease",
                    "id": item.id,
                    "token": token,
                    "until": until,
                    "attempts": item.attempts + 1,
                    "worker": worker[:100],
                }
            )
            return Lease(QueueItem.from_dict(item.as_dict()), token, until)

    def _holds(self, item_id: str, token: str) -> bool:
        item = self._items.get(item_id)
        return (
            item is not None
            and self._tokens.get(item_id) == token
            and item.leased_until is not None
            and item.leased_until > self.clock()
        )

    def ack(self, item_id: str, token: str) -> bool:
        """Remove a leased item whose lease ``token`` still holds."""
        with self._locked():
            if not self._holds(item_id, token):
                return False
            self._append({"op": "del", "id": item_id})
            return True

    def nack(self, item_id: str, token: str, delay: float = 0.0) -> bool:
        """Give a leased item back, available again after ``delay`` seconds."""
        with self._locked():
            if not self._holds(item_id, token):
                return False
            self._append(
                {"op": "release", "id": item_id, "available_at": self.clock() + max(0.0, delay)}
            )
            return True

    def stats(self) -> QueueStats:
        """Waiting and leased counts, and the oldest waiting item's enqueue time."""
        with self._locked():
            now = self.clock()
            leased = [i for i in self._items.values() if (i.leased_until or 0) > now]
            waiting = [i for i in self._items.values() if (i.leased_until or 0) <= now]
            return QueueStats(
                backend=self.name,
                length=len(waiting),
                in_flight=len(leased),
                oldest_enqueued_at=min((i.enqueued_at for i in waiting), default=None),
                supports_clear=self.supports_clear,
            )

    def items(self, limit: int, offset: int) -> list[QueueItem]:
        """Queued and leased items, oldest first."""
        with self._locked():
            # sorted() is stable: equal times keep the journal (insertion) order.
            ordered = sorted(self._items.values(), key=lambda i: i.enqueued_at)
            return [QueueItem.from_dict(i.as_dict()) for i in ordered[offset : offset + limit]]

    def clear(self) -> int:
        """Remove every item."""
        with self._locked():
            count = len(self._items)
            if count:
                self._append({"op": "clear"})
            return count

    def close(self) -> None:
        """Close the lock file."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def file_backend(options: QueueOptions) -> FileQueue:
    """The ``file`` backend's factory: in setting ``builds.queue_dir`` (default
    ``<instance>/builds-queue``)."""
    directory = options.config.get("queue_dir") or (options.instance_path / "builds-queue")
    return FileQueue(directory, options.clock)


FACTORY: Callable[[QueueOptions], FileQueue] = file_backend
