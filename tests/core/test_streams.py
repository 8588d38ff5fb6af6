"""WebSocket and SSE streams on a real (threaded Werkzeug) server: replay, heartbeat, drops,
Origin and auth. The Werkzeug test client cannot speak WebSocket, hence the real server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websocket
from werkzeug.serving import make_server

from app import events
from app.db import db, utcnow

TIMEOUT = 5


def _channel() -> str:
    return f"test:{uuid.uuid4().hex[:8]}"


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start ``app`` on 127.0.0.1:<free port> in a thread; returns ``(http_url, ws_url)``."""
    servers: list[tuple[Any, Any]] = []

    def start(app: Any) -> tuple[str, str]:
        app.config.setdefault("JUNCTION_EVENTS_HEARTBEAT_SECONDS", 30)
        app.config.setdefault("JUNCTION_EVENTS_WS_RESUME_WAIT", 0.3)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, app))
        return f"http://127.0.0.1:{server.port}", f"ws://127.0.0.1:{server.port}"

    yield start
    for server, app in servers:
        events.get_hub(app).shutdown()  # ends open streams so their threads finish
        server.shutdown()
        server.server_close()


def _publish(app: Any, channel: str, n: int) -> list[int]:
    with app.app_context():
        return [events.publish(channel, "e", {"n": i}) for i in range(n)]


def _recv(ws: websocket.WebSocket) -> dict[str, Any]:
    return json.loads(ws.recv())


def _events(ws: websocket.WebSocket, count: int) -> list[dict[str, Any]]:
    """The next ``count`` messages that are events (heartbeats are skipped)."""
    got: list[dict[str, Any]] = []
    while len(got) < count:
        message = _recv(ws)
        if message.get("type") != "heartbeat":
            got.append(message)
    return got


def _connect(url: str, **kwargs: Any) -> websocket.WebSocket:
    return websocket.create_connection(url, timeout=TIMEOUT, **kwargs)


# -- WebSocket -----------------------------------------------------------------------------------


def test_ws_replays_from_the_query_id_then_streams_live(app, serve):
    _, ws_url = serve(app)
    channel, other = _channel(), _channel()
    ids = _publish(app, channel, 3)
    ws = _connect(f"{ws_url}/ws/stream?channel={channel},{other}&last_event_id={ids[0]}")
    try:
        hello = _recv(ws)
        assert hello["type"] == "hello" and hello["last_event_id"] == ids[0]
        assert hello["channels"] == [channel, other] and hello["pid"] > 0
        assert [e["id"] for e in _events(ws, 2)] == ids[1:]
        more = _publish(app, other, 1) + _publish(app, channel, 1)
        got = _events(ws, 2)
        assert [(e["id"], e["channel"]) for e in got] == [(more[0], other), (more[1], channel)]
        assert got[1]["data"] == {"n": 0} and got[1]["type"] == "e"
    finally:
        ws.close()


def test_ws_resumes_from_the_first_client_message(app, serve):
    _, ws_url = serve(app)
    app.config["JUNCTION_EVENTS_WS_RESUME_WAIT"] = 10  # the message, not the timeout, starts it
    channel = _channel()
    ids = _publish(app, channel, 3)
    ws = _connect(f"{ws_url}/ws/stream?channel={channel}")
    try:
        assert _recv(ws)["type"] == "hello"
        ws.send(json.dumps({"last_event_id": ids[1]}))
        assert [e["id"] for e in _events(ws, 1)] == ids[2:]
    finally:
        ws.close()


def test_ws_without_a_resume_id_streams_from_connection_time(app, serve):
    _, ws_url = serve(app)
    channel = _channel()
    _publish(app, channel, 2)
    ws = _connect(f"{ws_url}/ws/stream?channel={channel}")
    try:
        assert _recv(ws)["type"] == "hello"
        # Published during the resume wait: not lost, and history before it is not sent.
        new = _publish(app, channel, 1)
        assert [e["id"] for e in _events(ws, 1)] == new
    finally:
        ws.close()


def test_ws_sends_heartbeats_and_answers_pings(app, serve):
    app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = 0.2
    _, ws_url = serve(app)
    ws = _connect(f"{ws_url}/ws/stream?channel={_channel()}&last_event_id=0")
    try:
        assert _recv(ws)["type"] == "hello"
        assert _recv(ws)["type"] == "heartbeat"
        ws.send(json.dumps({"type": "ping"}))
        while (message := _recv(ws))["type"] == "heartbeat":
            pass
        assert message["type"] == "pong"
        ws.send("not json")
        while (message := _recv(ws))["type"] == "heartbeat":
            pass
        assert message["type"] == "error"
    finally:
        ws.close()


def test_ws_reports_dropped_events_and_replays_them_on_request(app, serve):
    app.config["JUNCTION_EVENTS_QUEUE_SIZE"] = 2
    app.config["JUNCTION_EVENTS_POLL_SECONDS"] = 0.1
    _, ws_url = serve(app)
    channel = _channel()
    ws = _connect(f"{ws_url}/ws/stream?channel={channel}&last_event_id=0")
    try:
        assert _recv(ws)["type"] == "hello"
        ws.send(json.dumps({"type": "ping"}))
        assert _recv(ws)["type"] == "pong"  # the stream loop runs: the subscription is live
        # Five events in one transaction, announced to nobody: the next poll hands all five to
        # a queue of two at once.
        with app.app_context(), db.engine.begin() as conn:
            table = events.Event.__table__
            ids = [
                conn.execute(
                    table.insert()
                    .values(channel=channel, type="burst", data={}, created_at=utcnow())
                    .returning(table.c.id)
                ).scalar_one()
                for _ in range(5)
            ]
        got = _events(ws, 3)
        assert [e.get("id") for e in got[:2]] == ids[:2]
        assert got[2] == {"type": "dropped", "count": 3, "next_id": ids[2]}

        ws.send(json.dumps({"last_event_id": got[2]["next_id"] - 1}))
        assert _recv(ws) == {"type": "replay", "last_event_id": ids[1]}
        assert [e["id"] for e in _events(ws, 3)] == ids[2:]
    finally:
        ws.close()


def test_ws_refuses_a_foreign_origin_before_the_handshake(make_app, serve):
    app = make_app({"JUNCTION_ALLOWED_ORIGINS": "https://ui.example"})
    _, ws_url = serve(app)
    url = f"{ws_url}/ws/stream?channel=projects"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _connect(url, origin="https://evil.example")
    assert refused.value.status_code == 403
    for origin in ("https://ui.example", ws_url.replace("ws://", "http://")):
        ws = _connect(url, origin=origin)
        assert _recv(ws)["type"] == "hello"
        ws.close()
    ws = _connect(url, suppress_origin=True)  # non-browser clients send no Origin
    assert _recv(ws)["type"] == "hello"
    ws.close()


def test_ws_requires_the_api_token(make_app, serve):
    app = make_app({"JUNCTION_API_TOKENS": "s3cret-token"})
    _, ws_url = serve(app)
    url = f"{ws_url}/ws/stream?channel=projects"
    for kwargs, status in (
        ({}, 401),
        ({"header": ["Authorization: Bearer wrong"]}, 403),
    ):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _connect(url, **kwargs)
        assert refused.value.status_code == status
    with pytest.raises(websocket.WebSocketBadStatusException):
        _connect(url + "&access_token=wrong")
    for ws in (
        _connect(url, header=["Authorization: Bearer s3cret-token"]),
        _connect(url + "&access_token=s3cret-token"),
    ):
        assert _recv(ws)["type"] == "hello"
        ws.close()


def test_ws_stream_validates_before_the_handshake(app, serve):
    http_url, ws_url = serve(app)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _connect(f"{ws_url}/ws/stream")
    assert refused.value.status_code == 422
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _connect(f"{ws_url}/ws/stream?channel=a&last_event_id=x")
    assert refused.value.status_code == 422
    plain = requests.get(f"{http_url}/ws/stream?channel=a", timeout=TIMEOUT)
    assert plain.status_code == 400
    assert plain.headers["Content-Type"] == "application/problem+json"


# -- SSE -----------------------------------------------------------------------------------------


def _sse_events(response: requests.Response) -> Iterator[dict[str, Any]]:
    """Parsed SSE messages: ``{"id": ..., "data": {...}}`` (comments skipped)."""
    message: dict[str, Any] = {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in message:
                yield message
            message = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            if field == "data":
                message["data"] = json.loads(value)
            elif field == "id":
                message["id"] = int(value)


def test_sse_resumes_after_last_event_id_and_streams_live(app, serve):
    app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = 0.2
    http_url, _ = serve(app)
    channel = _channel()
    ids = _publish(app, channel, 3)
    with requests.get(
        f"{http_url}/api/events/stream?channel={channel}",
        headers={"Last-Event-ID": str(ids[0])},
        stream=True,
        timeout=TIMEOUT,
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = _sse_events(response)
        assert [next(stream)["id"] for _ in range(2)] == ids[1:]
        live = _publish(app, channel, 1)[0]
        message = next(stream)
        assert message["id"] == live and message["data"]["id"] == live
        assert message["data"]["channel"] == channel


def test_sse_query_parameter_and_origin_check(make_app, serve):
    app = make_app({"JUNCTION_ALLOWED_ORIGINS": "https://ui.example"})
    http_url, _ = serve(app)
    channel = _channel()
    ids = _publish(app, channel, 2)
    url = f"{http_url}/api/events/stream?channel={channel}"
    refused = requests.get(url, headers={"Origin": "https://evil.example"}, timeout=TIMEOUT)
    assert refused.status_code == 403
    assert refused.json()["code"] == "ORIGIN_NOT_ALLOWED"
    with requests.get(
        f"{url}&last_event_id={ids[0]}",
        headers={"Origin": "https://ui.example"},
        stream=True,
        timeout=TIMEOUT,
    ) as response:
        assert next(_sse_events(response))["id"] == ids[1]
