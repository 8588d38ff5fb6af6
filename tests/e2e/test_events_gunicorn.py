"""Events across processes: two gunicorn servers share one database (and Redis), a WebSocket
client on one receives what the other published, and a reconnecting client misses nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.support import Gunicorn, fresh_database, migrate_database, pg_server_url, redis_url

pytestmark = pytest.mark.e2e

WSGI = "tests.e2e.events_wsgi:app"


@pytest.fixture(params=["memory", "local", "redis", "postgres"])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Gunicorn]]:
    """Two gunicorn masters (one worker each) on one database, with the chosen notifier."""
    notifier = request.param
    env = {"JUNCTION_SCHEDULER": "off", "JUNCTION_EVENTS_NOTIFIER": notifier}
    if notifier == "redis":
        if not redis_url():
            pytest.skip("needs JUNCTION_TEST_REDIS_URL (a real Redis server)")
        env["JUNCTION_REDIS_URL"] = str(redis_url())
        env["JUNCTION_TEST_EVENTS_REDIS_CHANNEL"] = f"junction-test:{uuid.uuid4().hex}"
    if notifier == "postgres" and not pg_server_url():
        pytest.skip("needs JUNCTION_TEST_DATABASE_URL (PostgreSQL)")
    # With a notifier between processes the safety-net poll is made too slow to matter, so a
    # prompt cross-process delivery proves the notifier; without one, polling is the transport.
    env["JUNCTION_TEST_EVENTS_POLL_SECONDS"] = "0.2" if notifier == "memory" else "30"
    instance = tmp_path / "instance"
    instance.mkdir()
    with fresh_database(tmp_path) as url:
        env.update(JUNCTION_DATABASE_URL=url, JUNCTION_INSTANCE_PATH=str(instance))
        migrate_database(url, instance)
        started = [Gunicorn(env, workers=1, threads=8, app=WSGI) for _ in range(2)]
        try:
            # Start both at once (each waits for its own /readyz).
            with ThreadPoolExecutor(2) as pool:
                for future in [
                    pool.submit(server.start, tmp_path / f"gunicorn-{n}.log")
                    for n, server in enumerate(started)
                ]:
                    future.result()
            yield started
        finally:
            for server in started:
                server.stop()


def _connect(server: Gunicorn, last_event_id: int) -> tuple[websocket.WebSocket, dict]:
    url = server.url.replace("http://", "ws://")
    ws = websocket.create_connection(
        f"{url}/ws/stream?channel=projects&last_event_id={last_event_id}", timeout=10
    )
    hello = json.loads(ws.recv())
    assert hello["type"] == "hello"
    return ws, hello


def _next_event(ws: websocket.WebSocket) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv())
        if "channel" in message:
            return message


def test_a_client_on_one_server_receives_what_the_other_published(
    servers: list[Gunicorn], project_dir: Path
) -> None:
    a, b = servers
    ws_a, hello_a = _connect(a, 0)
    ws_b, hello_b = _connect(b, 0)
    try:
        assert hello_a["pid"] != hello_b["pid"]  # two processes
        created = requests.post(
            f"{a.url}/api/projects", json={"name": "e2e", "path": str(project_dir)}, timeout=10
        )
        assert created.status_code == 201, created.text
        first = [_next_event(ws_a), _next_event(ws_b)]
        assert [e["type"] for e in first] == ["project.created"] * 2
        assert first[0]["id"] == first[1]["id"]

        response = requests.patch(
            f"{b.url}/api/projects/e2e", json={"description": "via b"}, timeout=10
        )
        assert response.status_code == 200
        second = [_next_event(ws_a), _next_event(ws_b)]
        assert [e["data"]["description"] for e in second] == ["via b"] * 2
        last_seen = second[1]["id"]
    finally:
        ws_b.close()

    try:
        # While b's client is away, two more changes go through a.
        for text in ("away 1", "away 2"):
            patch = requests.patch(
                f"{a.url}/api/projects/e2e", json={"description": text}, timeout=10
            )
            assert patch.status_code == 200
        missed = [_next_event(ws_a), _next_event(ws_a)]

        ws_b, _ = _connect(b, last_seen)
        replayed = [_next_event(ws_b), _next_event(ws_b)]
        assert [e["id"] for e in replayed] == [e["id"] for e in missed]
        assert [e["data"]["description"] for e in replayed] == ["away 1", "away 2"]

        requests.delete(f"{a.url}/api/projects/e2e", timeout=10)
        live = _next_event(ws_b)
        assert live["type"] == "project.deleted" and live["id"] > replayed[-1]["id"]
    finally:
        ws_a.close()
        ws_b.close()
