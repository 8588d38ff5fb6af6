"""WebSocket frames on the wire: an event is encoded once and written to every client's socket.

Server-to-client frames are never masked, so one text frame (header + JSON) serves every client
of a process. :class:`FrameSink` wraps one accepted WebSocket's socket: the hub's fan-out thread
writes frames to it without blocking (``MSG_DONTWAIT``) and without waking the connection's own
thread; when the kernel's send buffer is full the frame is left to the connection's thread,
which writes it (and everything queued after it) blocking. Every writer — the fan-out, the
connection thread, simple-websocket's reader thread (pongs, close) and its pinger — goes through
the sink's lock, so frames never interleave.

A frame written without the ``RSV1`` bit is an uncompressed message, which RFC 7692 allows on a
connection that negotiated ``permessage-deflate``, so the same bytes fit every client.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

_TEXT = 0x81  # FIN + text opcode
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


def text_frame(payload: str | bytes) -> bytes:
    """One unmasked, final WebSocket text frame carrying ``payload``."""
    data = payload.encode() if isinstance(payload, str) else payload
    size = len(data)
    if size < 126:
        header = bytes((_TEXT, size))
    elif size < 65536:
        header = bytes((_TEXT, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_TEXT, 127)) + size.to_bytes(8, "big")
    return header + data


class FrameSink:
    """The one writer of a WebSocket's socket (see the module docstring).

    ``direct`` is true when the fan-out thread may write without blocking: a plain blocking TCP
    socket on a platform with ``MSG_DONTWAIT``. TLS sockets and sockets with a timeout are
    written by the connection's thread only.
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        #: The rest of a frame that a non-blocking write left unsent.
        self.pending = b""
        #: ``time.monotonic()`` of the last write (the heartbeat is due after a quiet spell).
        self.last_write = time.monotonic()
        #: A write failed: the client is gone.
        self.broken = False
        self.sealed = False
        self.direct = bool(_DONTWAIT) and type(sock) is socket.socket and sock.gettimeout() is None

    @classmethod
    def wrap(cls, ws: Any) -> FrameSink:
        """Put a sink between a simple-websocket connection and its socket."""
        sink = cls(ws.sock)
        ws.sock = _LockedSocket(sink)
        return sink

    # -- the fan-out thread --

    def try_write(self, frame: bytes) -> bool:
        """Write ``frame`` without blocking. ``True``: it is on its way (sent, or its rest parked
        in :attr:`pending` for the connection's thread; dropped when the client is gone).
        ``False``: nothing was written (socket full or busy) — queue it instead."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            if self.broken or self.sealed:
                return True
            if self.pending:
                return False
            try:
                sent = self.sock.send(frame, _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                self.broken = True
                return True
            if sent < len(frame):
                self.pending = frame[sent:]
            self.last_write = time.monotonic()
            return True
        finally:
            self.lock.release()

    # -- the connection's thread (and simple-websocket's threads) --

    def write(self, data: bytes) -> None:
        """Write ``data`` blocking, after any parked rest of a frame."""
        with self.lock:
            self._flush_locked()
            self.sock.sendall(data)
            self.last_write = time.monotonic()

    def send_text(self, payload: str | bytes) -> None:
        """Write one text message."""
        self.write(text_frame(payload))

    def flush(self) -> None:
        """Write the parked rest of a frame, if any (blocking)."""
        if self.pending:
            with self.lock:
                self._flush_locked()

    def seal(self) -> None:
        """Stop the fan-out's writes (before the close frame goes out)."""
        with self.lock:
            with contextlib.suppress(OSError):
                self._flush_locked()
            self.sealed = True

    def _flush_locked(self) -> None:
        if self.broken:
            raise BrokenPipeError("the client is gone")
        if self.pending:
            data, self.pending = self.pending, b""
            try:
                self.sock.sendall(data)
            except OSError:
                self.broken = True
                raise


class _LockedSocket:
    """The socket as simple-websocket sees it: its writes go through the sink's lock and are
    complete (``send`` behaves as ``sendall``); everything else is the socket's own."""

    def __init__(self, sink: FrameSink) -> None:
        self._sink = sink
        self._sock = sink.sock

    def send(self, data: bytes, *flags: int) -> int:
        """Write all of ``data`` (after any parked frame rest)."""
        self._sink.write(data)
        return len(data)

    def sendall(self, data: bytes, *flags: int) -> None:
        """Write all of ``data`` (after any parked frame rest)."""
        self._sink.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
