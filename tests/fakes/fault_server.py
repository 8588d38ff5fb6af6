"""A real local HTTP server whose answers are scripted per test, to inject faults.

    with FaultServer() as server:
        server.script("GET", "/items", [Reply(503), Reply(200, json={"ok": True})])
        ... call server.url + "/items" ...
        assert [r.method for r in server.requests] == ["GET", "GET"]

Each ``(method, path)`` has a queue of :class:`Reply` objects answered in order; the last one
repeats. Unscripted requests get 404 ``{"error": "unscripted"}``. A reply can delay its answer
(``delay=`` seconds; released early when the server closes, so a read-timeout test does not hold
the suite) or drop the connection without answering (``drop=True``). ``server.now`` is the clock
used for the ``Date`` header, so tests can pin it. HTTP/1.1 keep-alive is on, as in real APIs.
"""

from __future__ import annotations

import json as jsonlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Received:
    """One request the server saw."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return jsonlib.loads(self.body or b"null")


class FaultServer:
    """A ``ThreadingHTTPServer`` on ``127.0.0.1`` (port 0 unless given) in a daemon thread."""

    def __init__(self, port: int = 0) -> None:
        self._scripts: dict[tuple[str, str], list[Reply]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.requests: list[Received] = []
        self.now: Callable[[], float] = time.time
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FaultServer:
        """Start serving."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release delayed replies."""
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def script(self, method: str, path: str, replies: Iterable[Reply] | Reply) -> None:
        """Answer ``method path`` with ``replies`` in order (the last one repeats)."""
        queue = [replies] if isinstance(replies, Reply) else list(replies)
        if not queue:
            raise ValueError("at least one reply")
        with self._lock:
            self._scripts[(method.upper(), path)] = queue

    def calls(self, method: str | None = None, path: str | None = None) -> list[Received]:
        """The requests received, optionally filtered."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path)
            ]

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            queue = self._scripts.get((received.method, received.path))
            if not queue:
                return Reply(404, json={"error": "unscripted"})
            return queue.pop(0) if len(queue) > 1 else queue[0]


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(server.now() if timestamp is None else timestamp, usegmt=True)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            reply = server._next(
                Received(self.command, parts.path, parts.query, dict(self.headers.items()), body)
            )
            if reply.delay and server._closing.wait(reply.delay):
                self.close_connection = True
                return
            if reply.drop:
                # Close without a byte of answer: the client sees the connection die mid-call.
                self.close_connection = True
                return
            if reply.json is not None:
                payload = jsonlib.dumps(reply.json).encode()
                content_type = "application/json"
            else:
                raw = reply.body or b""
                payload = raw.encode() if isinstance(raw, str) else raw
                content_type = "text/plain; charset=utf-8"
            try:
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler
