"""Runs over HTTP: analysis, plan, approval parked in the database, execution, events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plugins.agents.conftest import channel_events, make_task, start_run

SEED_KEYS = {"event_type", "timestamp", "task_id", "run_id", "data", "message"}


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events if e["type"] != "log"]


def test_approval_flow_parks_then_completes(junction_app, junction_client, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    assert run["status"] == "running" and run["phase"] == "queued"

    assert drain() == 1
    run = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert run["phase"] == "awaiting_approval" and run["awaiting_approval"] is True
    assert [s["id"] for s in run["plan"]["steps"]] == ["echo-1", "echo-2"]
    assert run["approval_deadline"] is not None
    # Parked: no operation is pending or running for it.
    assert drain() == 0

    run_events = channel_events(junction_app, f"agents:run:{run['id']}")
    assert types(run_events) == ["analysis_start", "plan_ready", "approval_required"]
    assert all(set(e["data"]) == SEED_KEYS for e in run_events)
    assert run_events[1]["data"]["data"]["plan"]["steps"][0]["id"] == "echo-1"

    response = junction_client.post(f"/api/runs/{run['id']}/approve", json={"approved": True})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["phase"] == "executing"
    again = junction_client.post(f"/api/runs/{run['id']}/approve", json={"approved": False})
    assert again.status_code == 409
    assert again.get_json()["code"] == "RUN_NOT_AWAITING_APPROVAL"

    assert drain() == 1
    run = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert run["status"] == "completed" and run["phase"] == "done"
    assert types(channel_events(junction_app, f"agents:run:{run['id']}")) == [
        "analysis_start",
        "plan_ready",
        "approval_required",
        "approved",
        "progress",
        "progress",
        "completion",
    ]
    # The task and global channels carry the same seed events.
    assert "completion" in types(channel_events(junction_app, f"agents:task:{task['id']}"))
    assert "completion" in types(channel_events(junction_app, "agents"))

    task = junction_client.get(f"/api/tasks/{task['id']}").get_json()
    assert task["status"] == "completed"
    assert (task["total_runs"], task["successful_runs"], task["success_rate"]) == (1, 1, 100.0)

    logs = junction_client.get(f"/api/runs/{run['id']}/logs").get_json()
    assert [line["line"] for line in logs["items"]] == ["demo (1)", "demo (2)"]
    assert logs["skip"] == 0 and logs["offset"] == 0 and logs["total"] == 2

    summary = junction_client.get(f"/api/metrics/run/{run['id']}/summary").get_json()
    assert summary["metrics"]["echo_steps"]["count"] == 2
    assert summary["metrics"]["run_succeeded"]["last"] == 1
    assert "run_duration" in summary["metrics"]


def test_migrations_match_models(junction_app) -> None:
    from app.testing import migration_drift

    assert migration_drift(junction_app, "agents_") == []


class _RunnerDies(BaseException):
    """What a runner thread sees of its process going away (passes through the runner)."""


def test_a_runner_stopping_between_parking_and_announcing_is_taken_over(
    clocked_app, junction_client, junction_clock, drain, monkeypatch
) -> None:
    from plugins.agents import execution

    announce = execution._announce
    calls = []

    def dies_once(ctx, run, task):
        calls.append(run.id)
        if len(calls) == 1:
            raise _RunnerDies()
        announce(ctx, run, task)

    monkeypatch.setattr(execution, "_announce", dies_once)
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    with pytest.raises(_RunnerDies):
        drain()
    parked = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert parked["phase"] == "awaiting_approval"
    assert types(channel_events(clocked_app, f"agents:run:{run['id']}")) == ["analysis_start"]
    junction_clock.advance(60)  # the dead runner's lease runs out
    assert drain() == 1
    assert types(channel_events(clocked_app, f"agents:run:{run['id']}")) == [
        "analysis_start",
        "plan_ready",
        "approval_required",
    ]
    assert junction_client.get(f"/api/runs/{run['id']}").get_json()["phase"] == "awaiting_approval"
