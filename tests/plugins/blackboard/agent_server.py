"""A real HTTP agent for the tests: checks Junction's signature and answers artifacts.

``mode`` decides what it does: ``ok`` (a ``review`` per artifact), ``fail`` (500), ``hang``
(waits for :attr:`release` longer than the agent's timeout), ``bad_signature_secret`` is what
it verifies with (a wrong one makes it answer 401).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from plugins.blackboard import signing


class AgentServer:
    """A signed-webhook receiver on 127.0.0.1:0 acting as a blackboard agent."""

    def __init__(self, secret: str, mode: str = "ok") -> None:
        self.secret = secret
        self.mode = mode
        self.lock = threading.Lock()
        self.deliveries: list[dict[str, Any]] = []
        self.rejected = 0
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                ok = signing.verify(server.secret, raw, self.headers.get(signing.SIGNATURE_HEADER))
                with server.lock:
                    if not ok:
                        server.rejected += 1
                    else:
                        server.deliveries.append(
                            {
                                "body": json.loads(raw),
                                "delivery": self.headers.get(signing.DELIVERY_HEADER),
                                "timestamp": self.headers.get(signing.TIMESTAMP_HEADER),
                            }
                        )
                if not ok:
                    return self._answer(401, {"error": "bad signature"})
                if server.mode == "fail":
                    return self._answer(500, {"error": "agent down"})
                if server.mode == "hang":
                    server.release.wait(30)
                    return self._answer(200, {"artifacts": []})
                body = json.loads(raw)
                outputs = [
                    {"type": "review", "payload": {"of": a["id"], "by": "http"}}
                    for a in body["artifacts"]
                ]
                return self._answer(200, {"artifacts": outputs})

            def _answer(self, status: int, data: Any) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/agent"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AgentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def count(self) -> int:
        """Deliveries accepted so far."""
        with self.lock:
            return len(self.deliveries)
