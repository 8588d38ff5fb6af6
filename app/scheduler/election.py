"""Lock backends (file lock, PostgreSQL advisory lock) and the leader-election thread."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from flask import Flask

log = logging.getLogger("app.scheduler")

LOCK_FILE_NAME = "scheduler.lock"
# One advisory lock per database: every Junction process on that database competes for it.
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"junction.scheduler.leader").digest()[:8], "big", signed=True
)
DEFAULT_ELECTION_INTERVAL = 1.0
# A leader whose lock was not confirmed for this many intervals skips job runs: its fence. A
# stuck check (a silent partition blocks it) must not leave two leaders running jobs.
STALE_AFTER_INTERVALS = 10
# The database frees the lock of a session it has not heard from for the fence plus this
# margin, so the old leader has fenced itself before anyone else can take the lock.
FENCE_MARGIN = 5.0


def fence_seconds(interval: float) -> float:
    """Seconds after its last confirmed check that a leader stops starting jobs."""
    return interval * STALE_AFTER_INTERVALS


def peer_timeout(interval: float) -> float:
    """Seconds of silence after which the server ends the election session (and frees the
    lock): :func:`fence_seconds` plus :data:`FENCE_MARGIN`."""
    return fence_seconds(interval) + FENCE_MARGIN


# -- lock backends ----------------------------------------------------------------------------


class Elector(Protocol):
    """A lock that at most one process holds: try to take it, check it, give it back."""

    def try_acquire(self) -> bool:
        """Take the lock if free; ``True`` when this elector now holds it."""

    def confirm(self) -> bool:
        """Whether the lock held is still held (cheap; raising counts as lost)."""

    def release(self) -> None:
        """Give the lock back (idempotent)."""

    def abandon(self) -> None:
        """Forget the lock without touching it (in a forked child: the parent owns it)."""

    def describe(self) -> str:
        """Short name of the backend for logs and ``/readyz``."""


class FileLockElector:
    """``flock(LOCK_EX | LOCK_NB)`` on a file in the instance folder (one host, e.g. SQLite).

    The kernel drops the lock when the holder's descriptor is closed, including when the
    process dies. Two electors in one process compete too (separate open file descriptions).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._orphans: list[int] = []

    def try_acquire(self) -> bool:
        """Open and lock the file without blocking; write our pid into it for operators."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return True

    def confirm(self) -> bool:
        """Still the same file on disk: a deleted or replaced lock file could be locked anew
        by someone else, so losing the path counts as losing the lock."""
        if self._fd is None:
            return False
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Unlock and close."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def abandon(self) -> None:
        """Keep the inherited descriptor open and unused: unlocking it would unlock the
        parent's lock (flock locks belong to the shared open file description)."""
        if self._fd is not None:
            self._orphans.append(self._fd)
        self._fd = None

    def describe(self) -> str:
        """``file lock``."""
        return "file lock"


class PgAdvisoryElector:
    """``pg_try_advisory_lock`` on a dedicated connection (not from the pool).

    The lock is the session's, so the server drops it when the session ends: when the process
    dies (the kernel closes the socket), or when the server stops hearing from the process.
    The second case needs the server's help, since an idle server never notices a silently cut
    link by itself (its TCP keepalive defaults to two hours). Each election session therefore
    sets, for itself only: ``idle_session_timeout`` (the process queries every election
    interval, so a session silent for ``peer_timeout`` seconds is ended by the server, PG 14+),
    and server-side ``tcp_keepalives_*`` with ``tcp_user_timeout`` adding up to at least
    ``peer_timeout`` (older servers; a cut with unacknowledged data in flight). Both count from
    the last packet the server received, which is no earlier than when the leader sent its last
    confirmed check — and the leader's fence (:func:`fence_seconds`) counts from that send,
    ``FENCE_MARGIN`` seconds sooner. On the client side, TCP keepalives and
    ``tcp_user_timeout`` make a check on a dead link fail within about ten seconds.
    """

    def __init__(
        self, conninfo: str, key: int = ADVISORY_LOCK_KEY, peer_timeout_s: float | None = None
    ) -> None:
        self.conninfo = conninfo
        self.key = key
        self.peer_timeout = peer_timeout_s or peer_timeout(DEFAULT_ELECTION_INTERVAL)
        self._conn: Any = None
        self._orphans: list[Any] = []
        self._warned = False

    def session_settings(self) -> dict[str, str]:
        """The server settings the election session sets on itself (see the class doc)."""
        seconds = self.peer_timeout
        idle = max(1, math.ceil(seconds / 2))
        interval = max(1, math.ceil(seconds / 6))
        return {
            "idle_session_timeout": str(math.ceil(seconds * 1000)),
            "tcp_keepalives_idle": str(idle),
            "tcp_keepalives_interval": str(interval),
            "tcp_keepalives_count": "3",  # idle + 3 * interval >= seconds
            "tcp_user_timeout": str(math.ceil(seconds * 1000)),
        }

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name="junction-scheduler",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=10000,
        )
        refused = []
        for name, value in self.session_settings().items():
            try:
                conn.execute(_set_config(name), (value,))
            except psycopg.errors.UndefinedObject:  # an older server lacks the setting
                refused.append(name)
            except Exception:
                conn.close()
                raise
        if refused and not self._warned:
            self._warned = True
            log.warning(
                "scheduler: the database refused %s; a silent partition of the leader's host "
                "may keep the lock until the server's TCP keepalive notices",
                ", ".join(refused),
            )
        return conn

    def try_acquire(self) -> bool:
        """Connect when needed and try the lock; a failed connection is dropped for a retry."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        try:
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except Exception:
            self._close()
            raise
        return bool(row and row[0])

    def confirm(self) -> bool:
        """A cheap round trip on the lock's connection; any failure means the lock is gone."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1").fetchone()
        except Exception:
            self._close()
            return False
        return True

    def release(self) -> None:
        """Unlock and close the connection (closing alone would release it too)."""
        if self._conn is not None and not self._conn.closed:
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def abandon(self) -> None:
        """Keep the inherited connection object alive and unused: closing it in a forked
        child would end the parent's session and with it the parent's lock."""
        if self._conn is not None:
            self._orphans.append(self._conn)
        self._conn = None

    def describe(self) -> str:
        """``advisory lock``."""
        return "advisory lock"


def elector_for(app: Flask) -> Elector:
    """The lock backend for ``app``'s database: advisory lock on PostgreSQL, else a file lock."""
    import sqlalchemy as sa

    from app.db import libpq_conninfo

    raw = app.config["SQLALCHEMY_DATABASE_URI"]
    if sa.make_url(raw).get_backend_name() == "postgresql":
        interval = float(
            app.config.get("JUNCTION_SCHEDULER_ELECTION_INTERVAL") or DEFAULT_ELECTION_INTERVAL
        )
        # The URL's own text, not a re-rendering: libpq options must reach libpq unchanged.
        return PgAdvisoryElector(libpq_conninfo(raw), peer_timeout_s=peer_timeout(interval))
    return FileLockElector(Path(app.instance_path) / LOCK_FILE_NAME)


def _set_config(name: str) -> Any:
    # A parameterised ``SET name = %s`` for this session.
    from psycopg import sql

    return sql.SQL("SELECT set_config({}, %s, false)").format(sql.Literal(name))


# -- leader election --------------------------------------------------------------------------


class LeaderElection:
    """A daemon thread that keeps trying to lead and calls back when leadership changes.

    A standby calls ``try_acquire`` every ``interval`` seconds; the leader calls ``confirm``
    at the same pace and steps down (``on_deposed``) when it fails or raises.
    """

    def __init__(
        self,
        elector: Elector,
        on_elected: Callable[[], None] = lambda: None,
        on_deposed: Callable[[], None] = lambda: None,
        interval: float = DEFAULT_ELECTION_INTERVAL,
        name: str = "junction-scheduler-election",
    ) -> None:
        self.elector = elector
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.interval = interval
        self.name = name
        self.leading = False
        self.last_error: str | None = None
        self.confirmed_at = 0.0  # time.monotonic() of the last successful acquire/confirm
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the election thread is alive in this process."""
        return self._thread is not None and self._thread.is_alive() and self.pid == os.getpid()

    def start(self) -> None:
        """Start the election thread (idempotent)."""
        if self.running:
            return
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def halt(self, timeout: float = 10.0) -> None:
        """Stop the election thread, keeping the lock and the role as they are."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, step down and release the lock."""
        self.halt(timeout)
        if self.leading:
            self._step_down("stopping")
        with contextlib.suppress(Exception):
            self.elector.release()

    def fresh(self, stale_after: float) -> bool:
        """Whether leadership was confirmed within ``stale_after`` seconds."""
        return self.leading and time.monotonic() - self.confirmed_at <= stale_after

    def tick(self) -> None:
        """One election round (the thread calls this; tests may too)."""
        # The check's send time, not its answer's: the server's silence timeout counts from
        # the last packet it received, so the fence must count from no later than that.
        started = time.monotonic()
        try:
            if self.leading:
                if self.elector.confirm():
                    self.confirmed_at = started
                else:
                    self._step_down("lock lost")
            elif self.elector.try_acquire():
                self.leading = True
                self.confirmed_at = started
                self.last_error = None
                try:
                    self.on_elected()
                except Exception:
                    log.exception("scheduler: starting as leader failed; stepping down")
                    self._step_down("start failed")
                    return
            self.last_error = None
        except Exception as exc:  # backend unreachable: stay (or become) standby, retry
            self.last_error = type(exc).__name__
            log.warning("scheduler election: %s unavailable: %s", self.elector.describe(), exc)
            if self.leading:
                self._step_down("lock check failed")

    def _step_down(self, reason: str) -> None:
        self.leading = False
        level = logging.INFO if reason == "stopping" else logging.WARNING
        log.log(level, "scheduler: no longer leader (pid %s): %s", os.getpid(), reason)
        try:
            self.on_deposed()  # stop the jobs before a successor can take the lock
        except Exception:
            log.exception("scheduler: stopping the jobs failed")
        with contextlib.suppress(Exception):
            self.elector.release()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def abandon_after_fork(self) -> None:
        """In a forked child: the thread is gone and the lock is the parent's; forget both."""
        self.elector.abandon()
        self.leading = False
        self._thread = None
        self._stop = threading.Event()
