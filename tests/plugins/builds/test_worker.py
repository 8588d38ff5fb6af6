"""The reference worker end to end (a real ``pip wheel`` of a local sdist, no network), the
worker trigger (local operation, signed webhook, failures as 502/503) and the smoke check."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from app import operations
from app.testing import invoke
from plugins.builds.worker import _run
from tests.plugins.builds.conftest import set_builds_settings
from tests.plugins.builds.sdists import make_sdist

LIBXML = "fatal error: libxml/xmlversion.h: No such file or directory"


@pytest.fixture
def index(tmp_path: Path, junction_app) -> Path:
    """A folder of sdists the worker builds from (``--no-index --find-links``)."""
    folder = tmp_path / "sdists"
    make_sdist(folder, "tiny_pkg", "1.0")
    make_sdist(folder, "broken_pkg", "2.0", fail_with=LIBXML)
    set_builds_settings(
        junction_app,
        find_links=str(folder),
        wheel_dir=str(tmp_path / "wheels"),
        build_timeout=120,
    )
    return folder


def test_enqueue_to_manifest(junction_app, junction_client, junction_runner, index, tmp_path):
    c = junction_client
    hint = c.post(
        "/api/builds/hints",
        json={"pattern": r"fatal error: libxml/\w+\.h", "recipes": {"dnf": ["libxml2-devel"]}},
    )
    assert hint.status_code == 201
    assert (
        c.post(
            "/api/builds/queue/enqueue",
            json={"package": "Tiny_Pkg", "version": "1.0", "recipes": {"apt": ["gcc"]}},
        ).status_code
        == 201
    )
    assert (
        c.post(
            "/api/builds/queue/enqueue", json={"package": "broken-pkg", "version": "2.0"}
        ).status_code
        == 201
    )

    result = invoke(junction_runner, "builds", "worker")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["processed"] == 2

    built = c.get("/api/builds/event/tiny-pkg/1.0").get_json()
    assert built["status"] == "built" and built["duration_ms"] > 0
    failed = c.get("/api/builds/event/broken-pkg/2.0").get_json()
    assert failed["status"] == "failed"
    assert failed["matched_hint_ids"] == [hint.get_json()["id"]]
    states = [
        e["status"] for e in c.get("/api/builds/history?package=tiny-pkg").get_json()["items"]
    ]
    assert states == ["built", "building"]

    wheel = Path(c.get("/api/builds/artifacts").get_json()["items"][0]["wheel"])
    assert wheel.name == "tiny_pkg-1.0-py3-none-any.whl" and wheel.is_file()
    manifest = c.get("/api/builds/manifest").get_json()["entries"]
    assert {(e["name"], e["status"]) for e in manifest} == {
        ("tiny-pkg", "built"),
        ("broken-pkg", "failed"),
    }
    log = c.get("/api/builds/logs/tiny-pkg/1.0").get_json()["content"]
    assert "compiling the tiny extension" in log
    assert "recipe (would run): apt install gcc" in log  # shown, not run
    assert (
        c.get("/api/builds/logs/search?q=xmlversion").get_json()["items"][0]["name"] == "broken-pkg"
    )
    assert c.get("/api/builds/queue/stats").get_json()["length"] == 0

    # Built again: the wheel is in the manifest and on disk, so it is reused, not rebuilt.
    c.post("/api/builds/queue/enqueue", json={"package": "tiny-pkg", "version": "1.0"})
    again = invoke(junction_runner, "builds", "worker", "--once")
    assert json.loads(again.stdout)["builds"][0]["status"] == "reused"


def test_run_kills_a_build_past_its_timeout():
    lines: list[str] = []
    code = _run(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
        Path("."),
        1.0,
        lines.append,
    )
    assert code is None and lines == ["started"]


def test_local_trigger_runs_a_durable_drain(junction_app, junction_client, index):
    c = junction_client
    c.post("/api/builds/queue/enqueue", json={"package": "tiny-pkg", "version": "1.0"})
    started = c.post("/api/builds/worker/trigger")
    assert started.status_code == 202, started.get_json()
    body = started.get_json()
    assert body["mode"] == "local" and body["queue_length"] == 1
    # A second trigger joins the unfinished drain instead of starting another.
    assert c.post("/api/builds/worker/trigger").get_json()["operation_id"] == body["operation_id"]
    with junction_app.app_context():
        operations.run_pending()
    op = c.get(body["status_url"]).get_json()
    assert op["status"] == "succeeded", op
    assert op["result"]["processed"] == 1
    assert c.get("/api/builds/event/tiny-pkg/1.0").get_json()["status"] == "built"


class _Receiver(BaseHTTPRequestHandler):
    status = 202
    received: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhook_trigger_is_signed(junction_app, junction_client, receiver):
    url = f"http://127.0.0.1:{receiver.server_port}/drain"
    set_builds_settings(
        junction_app, worker_trigger="webhook", webhook_url=url, webhook_secret="hook-secret-123"
    )
    response = junction_client.post("/api/builds/worker/trigger")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["mode"] == "webhook"
    headers, body = _Receiver.received[0]
    assert json.loads(body) == {"action": "drain"}
    signed = headers["X-Junction-Timestamp"].encode() + b"." + body
    expected = hmac.new(b"hook-secret-123", signed, hashlib.sha256).hexdigest()
    assert headers["X-Junction-Signature"] == f"sha256={expected}"
    assert "hook-secret" not in junction_client.get("/api/builds/config").get_data(as_text=True)


def test_webhook_failures_are_told(junction_app, junction_client, receiver):
    c = junction_client
    set_builds_settings(junction_app, worker_trigger="webhook")
    unconfigured = c.post("/api/builds/worker/trigger")
    assert unconfigured.status_code == 503
    assert unconfigured.get_json()["code"] == "BUILDS_TRIGGER_NOT_CONFIGURED"

    _Receiver.status = 500
    try:
        set_builds_settings(
            junction_app, webhook_url=f"http://127.0.0.1:{receiver.server_port}/drain"
        )
        refused = c.post("/api/builds/worker/trigger")
        assert refused.status_code == 502, refused.get_json()
    finally:
        _Receiver.status = 202

    closed = HTTPServer(("127.0.0.1", 0), _Receiver)
    port = closed.server_port
    closed.server_close()  # nothing listens there now
    set_builds_settings(junction_app, webhook_url=f"http://127.0.0.1:{port}/drain")
    down = c.post("/api/builds/worker/trigger")
    assert down.status_code == 503 and down.get_json()["code"] == "BUILDS_TRIGGER_UNREACHABLE"


def test_trigger_and_smoke_need_the_worker_token(junction_app, junction_client, index):
    set_builds_settings(junction_app, worker_token="the-worker-token")
    c = junction_client
    assert c.post("/api/builds/worker/trigger").status_code == 401
    assert c.post("/api/builds/worker/smoke").status_code == 401
    smoke = c.post("/api/builds/worker/smoke", headers={"X-Worker-Token": "the-worker-token"})
    assert smoke.status_code == 200
    checks = {ch["name"]: ch["ok"] for ch in smoke.get_json()["checks"]}
    assert checks == {
        "queue": True,
        "wheel_dir": True,
        "scratch": True,
        "pip": True,
        "find_links": True,
    }
    assert c.get("/api/builds/queue/stats").get_json()["length"] == 0  # nothing drained


def test_smoke_names_what_fails(junction_app, junction_client, tmp_path):
    set_builds_settings(
        junction_app, find_links=str(tmp_path / "missing"), worker_trigger="webhook"
    )
    smoke = junction_client.post("/api/builds/worker/smoke").get_json()
    assert smoke["ok"] is False
    failing = {ch["name"] for ch in smoke["checks"] if not ch["ok"]}
    assert failing == {"find_links", "webhook_url"}
