"""Streams under a real gunicorn: shutdown with streams open, abandoned streams, the per-worker
stream cap, WebSocket client messages, and Host/Origin checks on WebSocket and SSE.

Every wait polls an observable condition (a socket closing, a metric, the process exiting)
with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.fixture_plugins.scheduler_probe import INTERVAL_ENV, RUNS_FILE_ENV, read_runs
from tests.support import Gunicorn, fresh_database, migrate_database, redis_url, wait_until

pytestmark = pytest.mark.e2e

WSGI = "tests.e2e.sched_wsgi:app"  # Junction plus a job that runs every quarter second
FUTURES_ERROR = "cannot schedule new futures after interpreter shutdown"


def _env(url: str, instance: Path, **extra: str) -> dict[str, str]:
    env = {
        "JUNCTION_DATABASE_URL": url,
        "JUNCTION_INSTANCE_PATH": str(instance),
        "JUNCTION_SCHEDULER": "off",
        "JUNCTION_LOG_LEVEL": "info",
        "JUNCTION_ACCESS_LOG": "/dev/null",
        **extra,
    }
    if redis_url():
        env["JUNCTION_REDIS_URL"] = str(redis_url())
        env["JUNCTION_EVENTS_REDIS_CHANNEL"] = f"junction-test:{uuid.uuid4().hex}"
    return env


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A migrated database (SQLite, or PostgreSQL when configured) and an instance folder."""
    instance = tmp_path / "instance"
    instance.mkdir()
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        yield url, instance


def _ws(server: Gunicorn, query: str = "channel=projects", **kwargs: Any) -> websocket.WebSocket:
    url = server.url.replace("http://", "ws://")
    return websocket.create_connection(f"{url}/ws/stream?{query}", timeout=10, **kwargs)


def _recv(ws: websocket.WebSocket) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv())
        if message.get("type") != "heartbeat":
            return message


def _sse_socket(server: Gunicorn, channel: str = "projects") -> tuple[socket.socket, int, str]:
    """A raw SSE client: ``(socket, status, head)`` once the response head has arrived."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(
        f"GET /api/events/stream?channel={channel} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    text = head.decode("latin-1")
    return sock, int(text.split(" ", 2)[1]), text


def _open_streams(server: Gunicorn) -> float:
    """``junction_streams_open`` summed over kinds and live workers (from /metrics)."""
    text = requests.get(server.url + "/metrics", timeout=5).text
    values = re.findall(r"^junction_streams_open\{[^}]*\} ([0-9.e+-]+)$", text, re.MULTILINE)
    return sum(float(value) for value in values)


# -- B: shutdown ---------------------------------------------------------------------------------


def test_sigterm_with_open_streams_exits_within_five_seconds_without_a_futures_loop(
    tmp_path: Path, database: tuple[str, Path]
) -> None:
    url, instance = database
    runs = tmp_path / "runs.txt"
    env = _env(
        url,
        instance,
        JUNCTION_SCHEDULER="on",
        **{RUNS_FILE_ENV: str(runs), INTERVAL_ENV: "0.25"},
    )
    server = Gunicorn(env, workers=2, threads=8, app=WSGI).start(tmp_path / "gunicorn.log")
    clients: list[Any] = []
    try:
        wait_until(lambda: len(read_runs(runs)) >= 2, timeout=15, what="the leader's job runs")
        for _ in range(3):
            ws = _ws(server)
            assert _recv(ws)["type"] == "hello"
            clients.append(ws)
        for _ in range(3):
            sock, status, _ = _sse_socket(server)
            assert status == 200
            clients.append(sock)
        wait_until(lambda: _open_streams(server) == 6, timeout=10, what="six open streams")

        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=10)
        took = time.monotonic() - started
        assert took < 5, f"shutdown took {took:.1f}s\n{server.log()}"
        # Each WebSocket client was told the server is going away.
        for ws in clients[:3]:
            ws.settimeout(5)
            with pytest.raises(websocket.WebSocketConnectionClosedException):
                while True:
                    ws.recv()
        log = server.log()
        assert FUTURES_ERROR not in log, log
        assert "Traceback" not in log, log
    finally:
        for client in clients:
            client.close()
        server.stop()


# -- B: abandoned streams, the cap, client messages -------------------------------------------


def test_vanished_sse_clients_free_their_threads_and_the_api_keeps_answering(
    tmp_path: Path, database: tuple[str, Path]
) -> None:
    url, instance = database
    with Gunicorn(_env(url, instance), workers=3, threads=8) as server:
        server.start(tmp_path / "gunicorn.log")
        clients = [_sse_socket(server) for _ in range(24)]
        accepted = [sock for sock, status, _ in clients if status == 200]
        refused = [head for _, status, head in clients if status != 200]
        # The default cap keeps a quarter of each worker's threads for plain requests.
        assert len(accepted) <= 3 * 6
        assert all(" 503 " in head and "Retry-After" in head for head in refused), refused
        wait_until(lambda: _open_streams(server) == len(accepted), what="the streams counted")

        for sock, _, _ in clients:
            sock.close()  # no goodbye: the process is gone
        started = time.monotonic()
        response = requests.get(server.url + "/api/projects", timeout=2)
        assert response.status_code == 200
        assert time.monotonic() - started < 2
        wait_until(lambda: _open_streams(server) == 0, timeout=5, what="the streams to end")


@pytest.fixture
def capped(tmp_path: Path, database: tuple[str, Path]) -> Iterator[Gunicorn]:
    """One worker that serves at most two streams."""
    url, instance = database
    env = _env(url, instance, JUNCTION_STREAMS_MAX_PER_WORKER="2")
    with Gunicorn(env, workers=1, threads=6) as server:
        server.start(tmp_path / "gunicorn.log")
        yield server


def test_a_stream_past_the_cap_gets_503_with_retry_after(capped: Gunicorn) -> None:
    ws = _ws(capped)
    sock, status, _ = _sse_socket(capped)
    try:
        assert _recv(ws)["type"] == "hello" and status == 200
        over = requests.get(f"{capped.url}/api/events/stream?channel=projects", timeout=5)
        assert over.status_code == 503
        assert over.headers["Content-Type"] == "application/problem+json"
        assert int(over.headers["Retry-After"]) > 0
        assert over.json()["code"] == "TOO_MANY_STREAMS"
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _ws(capped)
        assert refused.value.status_code == 503
        assert requests.get(f"{capped.url}/api/projects", timeout=2).status_code == 200
    finally:
        ws.close()
        sock.close()
    wait_until(lambda: _open_streams(capped) == 0, timeout=5, what="the streams to end")
    again = _ws(capped)
    assert _recv(again)["type"] == "hello"
    again.close()


@pytest.mark.parametrize("query", ["channel=projects", "channel=projects&last_event_id=0"])
def test_a_ping_as_the_first_message_gets_a_pong(capped: Gunicorn, query: str) -> None:
    ws = _ws(capped, query)
    try:
        assert _recv(ws)["type"] == "hello"
        ws.send(json.dumps({"type": "ping"}))
        assert _recv(ws)["type"] == "pong"
        ws.send("ping")
        assert _recv(ws)["type"] == "pong"
    finally:
        ws.close()


def test_a_deeply_nested_message_gets_an_error_frame_and_the_server_stays_healthy(
    capped: Gunicorn,
) -> None:
    ws = _ws(capped, "channel=projects&last_event_id=0")
    try:
        assert _recv(ws)["type"] == "hello"
        ws.send("[" * 5000 + "]" * 5000)
        error = _recv(ws)
        assert error["type"] == "error" and error["code"] == "JSON_TOO_DEEP"
        ws.send('{"last_event_id": 1' + "0" * 5000 + "}")
        assert _recv(ws)["code"] == "NUMBER_TOO_LARGE"
        ws.send(json.dumps({"type": "ping"}))  # the same stream still answers
        assert _recv(ws)["type"] == "pong"
    finally:
        ws.close()
    big = _ws(capped, "channel=projects&last_event_id=0")
    try:
        assert _recv(big)["type"] == "hello"
        big.send("x" * 100_000)  # past the message size limit: the server closes the socket
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:
                big.recv()
    finally:
        big.close()
    assert requests.get(capped.url + "/healthz", timeout=2).status_code == 200
    assert "Traceback" not in capped.log()


# -- C: Host and Origin -------------------------------------------------------------------------


def test_foreign_origins_and_hosts_cannot_open_streams(capped: Gunicorn) -> None:
    sse = f"{capped.url}/api/events/stream?channel=projects"
    evil = "http://attacker.example:8000"
    for headers, status, code in (
        ({"Origin": evil}, 403, "ORIGIN_NOT_ALLOWED"),
        # DNS rebinding: the page's own Host and a matching Origin.
        ({"Origin": evil, "Host": "attacker.example:8000"}, 400, "HOST_NOT_ALLOWED"),
    ):
        refused = requests.get(sse, headers=headers, timeout=5)
        assert refused.status_code == status, refused.text
        assert refused.json()["code"] == code
        with pytest.raises(websocket.WebSocketBadStatusException) as ws_refused:
            _ws(capped, origin=headers["Origin"], host=headers.get("Host"))
        assert ws_refused.value.status_code == status
    own = _ws(capped, origin=f"http://localhost:{capped.port}")
    assert _recv(own)["type"] == "hello"
    own.close()
