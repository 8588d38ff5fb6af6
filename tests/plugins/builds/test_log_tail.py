"""Live log tail over SSE and WebSocket: replay from an offset, live lines, the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests
import websocket

TIMEOUT = 10
TAIL = "/logs/stream/Demo_Pkg/1.0"


def _append(http: str, text: str) -> dict[str, Any]:
    response = requests.post(
        f"{http}/api/builds{TAIL}",
        data=text.encode(),
        headers={"Content-Type": "text/plain"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _finish(http: str) -> None:
    response = requests.post(
        f"{http}/api/builds/logs",
        json={"name": "demo-pkg", "version": "1.0", "content": "the whole log"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201


def _sse(response: requests.Response) -> Iterator[dict[str, Any]]:
    message: dict[str, Any] = {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in message:
                yield message
            message = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            message[field] = json.loads(value) if field == "data" else value


def test_append_numbers_lines(junction_app, serve):
    http, _ = serve(junction_app)
    assert _append(http, "one\ntwo\n") == {
        "name": "demo-pkg",
        "version": "1.0",
        "first_line": 0,
        "count": 2,
    }
    assert _append(http, "three")["first_line"] == 2
    refused = requests.post(f"{http}/api/builds{TAIL}", json={"x": 1}, timeout=TIMEOUT)
    assert refused.status_code == 415


def test_sse_replays_from_offset_follows_and_ends(junction_app, serve):
    junction_app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = 0.2
    http, _ = serve(junction_app)
    _append(http, "l0\nl1\nl2")
    with requests.get(
        f"{http}/api/builds{TAIL}?offset=1", stream=True, timeout=TIMEOUT
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = _sse(response)
        first = next(stream)
        assert first["event"] == "lines"
        assert first["data"]["lines"] == ["l1", "l2"] and first["id"] == "3"
        _append(http, "l3\nl4")
        live = next(stream)
        assert live["data"] == {"type": "lines", "first_line": 3, "lines": ["l3", "l4"]}
        _finish(http)
        end = next(stream)
        assert end["event"] == "complete" and end["data"]["next_line"] == 5
        assert list(stream) == []  # the server closed the stream


def test_sse_resumes_from_last_event_id_of_a_finished_build(junction_app, serve):
    http, _ = serve(junction_app)
    _append(http, "a\nb\nc\nd")
    _finish(http)
    with requests.get(
        f"{http}/api/builds{TAIL}", headers={"Last-Event-ID": "3"}, stream=True, timeout=TIMEOUT
    ) as response:
        messages = list(_sse(response))
    assert [m["event"] for m in messages] == ["lines", "complete"]
    assert messages[0]["data"]["lines"] == ["d"]


def test_websocket_tail_replays_and_follows(junction_app, serve):
    junction_app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = 0.2
    http, ws_url = serve(junction_app)
    _append(http, "x0\nx1\nx2")
    ws = websocket.create_connection(
        f"{ws_url}/ws/builds/logs/demo-pkg/1.0?offset=2", timeout=TIMEOUT
    )
    try:

        def receive() -> dict[str, Any]:
            while (message := json.loads(ws.recv()))["type"] == "heartbeat":
                pass
            return message

        assert receive() == {"type": "lines", "first_line": 2, "lines": ["x2"]}
        _append(http, "x3")
        assert receive() == {"type": "lines", "first_line": 3, "lines": ["x3"]}
        _finish(http)
        assert receive()["type"] == "complete"
    finally:
        ws.close()


def test_websocket_refuses_a_bad_version(junction_app, serve):
    _, ws_url = serve(junction_app)
    try:
        websocket.create_connection(f"{ws_url}/ws/builds/logs/demo/not-a-version", timeout=TIMEOUT)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 422
    else:
        raise AssertionError("the handshake should have failed")


def test_sse_answers_at_once_before_any_line(junction_app, serve):
    junction_app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = 60
    http, _ = serve(junction_app)
    # The headers come before the first line or heartbeat (the read timeout is far below 60 s).
    with requests.get(f"{http}/api/builds{TAIL}", stream=True, timeout=5) as response:
        assert response.status_code == 200
        _append(http, "first line")
        assert next(_sse(response))["data"]["lines"] == ["first line"]
    bad = requests.get(f"{http}/api/builds/logs/stream/x/not-a-version", timeout=5)
    assert bad.status_code == 422
