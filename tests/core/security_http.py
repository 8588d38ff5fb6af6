"""Real HTTP for the security tests: an app on a threaded Werkzeug server bound to port 0, and
raw ``http.client`` requests that may carry any ``Host``, ``Origin`` or proxy header."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

TIMEOUT = 10


@dataclass
class Reply:
    """One answer: status, headers (lowercase names) and the raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@contextlib.contextmanager
def serving(app: Flask) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1:<free port> in a thread; yields the port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def call(
    port: int,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    json_body: Any = None,
    chunked: bool = False,
) -> Reply:
    """Send one request; a ``Host`` in ``headers`` replaces the real one."""
    sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    if json_body is not None:
        body = json.dumps(json_body)
        sent.setdefault("Content-Type", "application/json")
    data = body.encode() if isinstance(body, str) else body
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        if chunked:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in sent.items():
                connection.putheader(name, value)
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            step = 64 * 1024
            for start in range(0, len(data or b""), step):
                piece = (data or b"")[start : start + step]
                try:
                    connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server answered early and closed: read its answer
            else:
                connection.send(b"0\r\n\r\n")
        else:
            connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return Reply(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()
