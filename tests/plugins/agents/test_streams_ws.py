"""The seed's WebSocket streams over a real server and a real WebSocket client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from werkzeug.serving import make_server

from app import events
from tests.plugins.agents.conftest import make_task, start_run

TIMEOUT = 10


@pytest.fixture
def ws_url(junction_app) -> Iterator[str]:
    """The app on 127.0.0.1:<free port> in a thread."""
    junction_app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = 30
    server = make_server("127.0.0.1", 0, junction_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"ws://127.0.0.1:{server.port}"
    events.get_hub(junction_app).shutdown()
    server.shutdown()
    server.server_close()


def receive(ws: websocket.WebSocket, count: int) -> list[dict[str, Any]]:
    """The next ``count`` seed events (hello, heartbeats and log lines skipped)."""
    got: list[dict[str, Any]] = []
    while len(got) < count:
        message = json.loads(ws.recv())
        if "event_type" in message and message["event_type"] != "log":
            got.append(message)
    return got


def test_approval_flow_step_by_step_over_a_websocket(junction_client, ws_url, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    ws = websocket.create_connection(f"{ws_url}/ws/runs/{run['id']}", timeout=TIMEOUT)
    try:
        hello = json.loads(ws.recv())
        assert hello["type"] == "hello" and hello["channels"] == [f"agents:run:{run['id']}"]
        drain()
        first = receive(ws, 3)
        assert [e["event_type"] for e in first] == [
            "analysis_start",
            "plan_ready",
            "approval_required",
        ]
        # The seed's payload at the top level, plus the log's id.
        plan_ready = first[1]
        assert plan_ready["task_id"] == task["id"] and plan_ready["run_id"] == run["id"]
        assert plan_ready["data"]["plan"]["steps"][1]["id"] == "echo-2"
        assert plan_ready["timestamp"] and plan_ready["message"] and plan_ready["id"] > 0

        approved = junction_client.post(f"/api/runs/{run['id']}/approve", json={"approved": True})
        assert approved.status_code == 200
        assert [e["event_type"] for e in receive(ws, 1)] == ["approved"]
        drain()
        rest = receive(ws, 3)
        assert [e["event_type"] for e in rest] == ["progress", "progress", "completion"]
        assert rest[1]["data"]["percent"] == 100.0
        assert rest[2]["data"]["status"] == "completed"
    finally:
        ws.close()


def test_a_late_subscriber_still_gets_plan_ready(junction_client, ws_url, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()  # plan_ready and approval_required are in the log before anyone listens
    for path in (f"/ws/runs/{run['id']}", f"/ws/tasks/{task['id']}"):
        ws = websocket.create_connection(f"{ws_url}{path}", timeout=TIMEOUT)
        try:
            got = receive(ws, 3)
            assert [e["event_type"] for e in got][1:] == ["plan_ready", "approval_required"]
        finally:
            ws.close()
    # Resuming after plan_ready replays only what came after it.
    ws = websocket.create_connection(f"{ws_url}/ws/runs/{run['id']}", timeout=TIMEOUT)
    try:
        plan_ready_id = receive(ws, 2)[1]["id"]
    finally:
        ws.close()
    ws = websocket.create_connection(
        f"{ws_url}/ws/runs/{run['id']}?last_event_id={plan_ready_id}", timeout=TIMEOUT
    )
    try:
        assert [e["event_type"] for e in receive(ws, 1)] == ["approval_required"]
    finally:
        ws.close()


def test_the_core_stream_carries_the_agents_channel(junction_client, ws_url, drain) -> None:
    task = make_task(junction_client, require_approval=False)
    ws = websocket.create_connection(
        f"{ws_url}/ws/stream?channel=agents&last_event_id=0", timeout=TIMEOUT
    )
    try:
        assert json.loads(ws.recv())["type"] == "hello"
        run = start_run(junction_client, task["id"])
        drain()
        kinds = []
        while "completion" not in kinds:
            message = json.loads(ws.recv())
            if message.get("channel") == "agents":
                assert message["data"]["run_id"] == run["id"]  # the core's envelope
                kinds.append(message["type"])
        assert kinds[:2] == ["analysis_start", "plan_ready"]
    finally:
        ws.close()


def test_unknown_run_or_task_is_refused_before_the_handshake(ws_url) -> None:
    for path in ("/ws/runs/424242", "/ws/tasks/424242"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(f"{ws_url}{path}", timeout=TIMEOUT)
        assert refused.value.status_code == 404
