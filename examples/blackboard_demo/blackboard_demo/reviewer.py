"""The example's HTTP agent: verifies Junction's signature, answers a ``review`` per ``plan``.

``python -m blackboard_demo.reviewer --port 8765 --secret <at least 16 characters>``
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from blackboard_demo import review_plan
from plugins.blackboard.signing import SIGNATURE_HEADER, verify


def make_server(secret: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A reviewer agent bound to ``host:port`` (0: any free port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not verify(secret, raw, self.headers.get(SIGNATURE_HEADER)):
                return self._answer(401, {"error": "bad signature"})
            delivery = json.loads(raw)
            reviews = [
                {"type": "review", "payload": review_plan(artifact["payload"])}
                for artifact in delivery["artifacts"]
                if artifact["type"] == "plan"
            ]
            return self._answer(200, {"artifacts": reviews})

        def _answer(self, status: int, data: Any) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def serve_in_thread(secret: str) -> tuple[ThreadingHTTPServer, str]:
    """Start a reviewer on a free loopback port in a daemon thread; ``(server, url)``."""
    server = make_server(secret)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/review"


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    make_server(args.secret, port=args.port).serve_forever()


if __name__ == "__main__":
    main()
