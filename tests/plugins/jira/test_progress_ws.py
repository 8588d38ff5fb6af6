"""The progress WebSocket on a real (threaded Werkzeug) server: the seed's messages, replay."""

from __future__ import annotations

import json
import threading
from typing import Any

import websocket
from werkzeug.serving import make_server

from tests.plugins.jira.conftest import Env


def _messages(ws: websocket.WebSocket, until: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        message = json.loads(ws.recv())
        if message["type"] in ("hello", "heartbeat"):
            continue
        got.append(message)
        if message["type"] == until:
            return got


def test_progress_stream_sends_the_seed_messages_and_replays(env: Env) -> None:
    sid = env.session([{"title": "A"}, {"title": "B", "dependencies": [0]}])["id"]
    env.post(f"/api/jira/export-session/{sid}")
    env.run()
    server = make_server("127.0.0.1", 0, env.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"ws://127.0.0.1:{server.port}/api/jira/export/progress/{sid}?last_event_id=0"
        ws = websocket.create_connection(url, timeout=5)
        got = _messages(ws, "export_complete")
        ws.close()
        progress = [m for m in got if m["type"] == "export_progress"]
        assert progress[0]["current_stage"] == "Creating ticket 1 of 2: A"
        assert progress[0]["total_tickets"] == 2 and progress[0]["current_jira_project"] == "DEMO"
        done = got[-1]
        assert done["status"] == "completed" and done["tickets_created"] == 2
        assert done["dependencies_created"] == 1 and done["manual_fixes_needed"] == 0
        # Resuming after an event replays only what came later.
        middle = progress[1]["event_id"]
        url2 = url.replace("last_event_id=0", f"last_event_id={middle}")
        ws = websocket.create_connection(url2, timeout=5)
        replayed = _messages(ws, "export_complete")
        ws.close()
        assert [m["event_id"] for m in replayed] == [m["event_id"] for m in got[2:]]
        refused = websocket.WebSocket()
        try:
            refused.connect(
                f"ws://127.0.0.1:{server.port}/api/jira/export/progress/"
                "00000000-0000-0000-0000-000000000000",
                timeout=5,
            )
            raise AssertionError("an unknown session must be refused")
        except websocket.WebSocketBadStatusException as exc:
            assert exc.status_code == 404
    finally:
        server.shutdown()
        server.server_close()
