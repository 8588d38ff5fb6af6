"""The builds API and the reference worker, unchanged, on the ``kafka`` backend; clear refused
(422 saying why), settings in the config with the password masked, /readyz and /metrics."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from app import settings
from app.testing import invoke
from tests.plugins.builds.sdists import make_sdist


@pytest.fixture
def junction_plugins() -> list[str]:
    """The builds plugin and its Kafka backend."""
    return ["builds", "queue_kafka"]


@pytest.fixture
def kafka_app(junction_app, kafka_bootstrap: str, tmp_path: Path):
    """An app whose build queue is a fresh topic on the test broker."""
    name = f"api{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "sdists"
    make_sdist(folder, "tiny_pkg", "1.0")
    with junction_app.app_context():
        settings.set_values(
            "queue_kafka",
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": f"{name}.queue",
                "group_id": f"{name}.workers",
                "sasl_username": "builder",
                "sasl_password": "hunter2-very-secret",
            },
        )
        settings.set_values(
            "builds",
            {
                "queue_backend": "kafka",
                "find_links": str(folder),
                "wheel_dir": str(tmp_path / "wheels"),
                "build_timeout": 120,
            },
        )
    yield junction_app
    backend = junction_app.extensions.get("builds_queue")
    if backend is not None:
        backend.close()


def test_queue_api_and_worker_on_kafka(kafka_app, junction_client, junction_runner) -> None:
    """Enqueue (deduplicated), list, stats, clear refused, the worker drains it."""
    c = junction_client
    first = c.post("/api/builds/queue/enqueue", json={"package": "Tiny_Pkg", "version": "1.0"})
    assert first.status_code == 201, first.get_json()
    again = c.post("/api/builds/queue/enqueue", json={"package": "tiny-pkg", "version": "1.0"})
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert again.get_json()["item"]["id"] == first.get_json()["item"]["id"]
    listed = c.get("/api/builds/queue").get_json()
    assert [i["package"] for i in listed["items"]] == ["tiny-pkg"] and listed["total"] == 1
    stats = c.get("/api/builds/queue/stats").get_json()
    assert (stats["backend"], stats["length"], stats["supports_clear"]) == ("kafka", 1, False)

    cleared = c.post("/api/builds/queue/clear")
    assert cleared.status_code == 422
    assert cleared.mimetype == "application/problem+json"
    assert "append-only log" in cleared.get_json()["detail"]
    assert c.get("/api/builds/queue/stats").get_json()["length"] == 1

    result = invoke(junction_runner, "builds", "worker")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["processed"] == 1
    assert c.get("/api/builds/event/tiny-pkg/1.0").get_json()["status"] == "built"
    stats = c.get("/api/builds/queue/stats").get_json()
    assert (stats["length"], stats["in_flight"]) == (0, 0)


def test_config_readyz_and_metrics_on_kafka(kafka_app, junction_client) -> None:
    """The backend's settings are in the config (password masked), its check in /readyz and
    its figures in /metrics."""
    c = junction_client
    c.post("/api/builds/queue/enqueue", json={"package": "numpy", "version": "2.0"})
    config = c.get("/api/builds/config")
    assert config.status_code == 200
    queue = config.get_json()["queue"]
    assert queue["backend"] == "kafka"
    assert queue["settings"]["topic"].endswith(".queue")
    assert queue["settings"]["sasl_username"] == "builder"
    assert queue["settings"]["sasl_password_set"] is True
    assert "hunter2-very-secret" not in config.get_data(as_text=True)

    ready = c.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    checks = ready.get_json()["checks"]
    assert checks["queue_kafka.broker"]["status"] == "ok"
    assert "lag" in checks["queue_kafka.broker"]["detail"]

    exposition = c.get("/metrics").get_data(as_text=True)
    length = [line for line in exposition.splitlines() if line.startswith("junction_queue_kafka_")]
    assert "junction_queue_kafka_length 1.0" in length
    assert any(line.startswith("junction_queue_kafka_lag_records ") for line in length)
    assert any(line.startswith("junction_queue_kafka_oldest_age_seconds ") for line in length)
    assert any(line.startswith("junction_queue_kafka_redeliveries ") for line in length)
