"""The ``junction builds`` commands and the builds figures in ``/metrics``."""

from __future__ import annotations

import json

from app.testing import invoke
from tests.plugins.builds.conftest import event


def test_cli(junction_client, junction_runner):
    added = invoke(junction_runner, "builds", "enqueue", "Six", "1.16.0", "--dnf", "gcc")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["item"]["recipes"]["dnf"] == ["gcc"]
    queued = json.loads(invoke(junction_runner, "builds", "queue").stdout)
    assert queued["stats"]["length"] == 1 and queued["items"][0]["package"] == "six"

    bad = invoke(junction_runner, "builds", "enqueue", "six", "not-a-version")
    assert bad.exit_code == 1
    assert json.loads(bad.stderr)["status"] == 422

    junction_client.post("/api/builds/hints", json={"pattern": "boom"})
    assert json.loads(invoke(junction_runner, "builds", "hints").stdout)[0]["pattern"] == "boom"
    junction_client.post(
        "/api/builds/logs", json={"name": "six", "version": "1.0", "content": "linker exploded"}
    )
    found = json.loads(invoke(junction_runner, "builds", "logs", "search", "linker").stdout)
    assert [i["name"] for i in found["items"]] == ["six"]
    junction_client.post("/api/builds/events", json=event("six", "1.0", "failed"))
    summary = json.loads(invoke(junction_runner, "builds", "summary").stdout)
    assert summary["status_counts"] == {"failed": 1}


def test_metrics(junction_client):
    junction_client.post("/api/builds/events", json=event(status="failed"))
    junction_client.post("/api/builds/queue/enqueue", json={"package": "x", "version": "1"})
    junction_client.get("/api/builds/queue/stats")
    text = junction_client.get("/metrics").get_data(as_text=True)
    assert 'junction_builds_events_total{status="failed"}' in text
    assert "junction_builds_queue_enqueued_total" in text
    assert "junction_builds_queue_length 1.0" in text
