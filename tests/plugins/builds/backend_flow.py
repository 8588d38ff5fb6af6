"""One end-to-end flow any queue backend must carry unchanged: the builds API (enqueue,
de-duplication, listing, statistics, clear), the reference worker draining the queue, and the
backend's own health, metrics and configuration."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.testing import invoke
from tests.plugins.builds.conftest import set_builds_settings
from tests.plugins.builds.sdists import make_sdist


def api_and_worker_flow(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path, backend: str
) -> dict:
    """Run the flow on ``backend`` (already configured apart from ``queue_backend``); returns
    ``GET /api/builds/config``'s ``queue`` for backend-specific checks."""
    folder = tmp_path / "sdists"
    make_sdist(folder, "tiny_pkg", "1.0")
    make_sdist(folder, "broken_pkg", "2.0", fail_with="error: no compiler")
    set_builds_settings(
        app,
        queue_backend=backend,
        find_links=str(folder),
        wheel_dir=str(tmp_path / "wheels"),
        build_timeout=120,
    )
    c = client
    first = c.post("/api/builds/queue/enqueue", json={"package": "Tiny_Pkg", "version": "1.0"})
    assert first.status_code == 201, first.get_json()
    again = c.post("/api/builds/queue/enqueue", json={"package": "tiny-pkg", "version": "1.0"})
    assert (
        again.status_code == 200
        and again.get_json()["item"]["id"] == first.get_json()["item"]["id"]
    )
    assert (
        c.post(
            "/api/builds/queue/enqueue", json={"package": "broken-pkg", "version": "2.0"}
        ).status_code
        == 201
    )
    listed = c.get("/api/builds/queue").get_json()
    assert [i["package"] for i in listed["items"]] == ["tiny-pkg", "broken-pkg"]
    assert listed["total"] == 2
    stats = c.get("/api/builds/queue/stats").get_json()
    assert (stats["backend"], stats["length"], stats["in_flight"]) == (backend, 2, 0)

    ready = c.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    checks = ready.get_json()["checks"]
    own = f"queue_{backend}."
    assert any(name.startswith(own) and r["status"] == "ok" for name, r in checks.items()), checks
    metrics = c.get("/metrics").get_data(as_text=True)
    assert f"junction_queue_{backend}_length 2.0" in metrics
    assert f"junction_queue_{backend}_redeliveries" in metrics

    result = invoke(runner, "builds", "worker")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["processed"] == 2
    assert c.get("/api/builds/event/tiny-pkg/1.0").get_json()["status"] == "built"
    assert c.get("/api/builds/event/broken-pkg/2.0").get_json()["status"] == "failed"
    stats = c.get("/api/builds/queue/stats").get_json()
    assert (stats["length"], stats["in_flight"]) == (0, 0)

    c.post("/api/builds/queue/enqueue", json={"package": "left-over", "version": "1"})
    cleared = c.post("/api/builds/queue/clear").get_json()
    assert cleared == {"cleared": 1, "backend": backend}
    queue = c.get("/api/builds/config").get_json()["queue"]
    assert queue["backend"] == backend and queue["details"]["available"] is True
    return queue
