"""Tasks, runs and metrics over HTTP: CRUD, filters, both pagination styles, decisions, the
approval deadline on a fake clock, cancel, idempotent approvals."""

from __future__ import annotations

from app.testing import run_job
from tests.plugins.agents.conftest import channel_events, make_task, start_run


def test_task_crud_filters_and_both_paginations(junction_client) -> None:
    a = make_task(junction_client, name="a")
    b = make_task(
        junction_client, name="b", team="subprocess", config={"steps": ["true"]}, max_rounds=3
    )
    assert a["status"] == "pending" and a["team"] == "echo" and a["require_approval"] is True
    assert a["approval_timeout"] == 300.0 and a["success_rate"] == 0.0

    page = junction_client.get("/api/tasks/?limit=1").get_json()
    assert (page["total"], page["limit"], page["skip"], page["offset"]) == (2, 1, 0, 0)
    assert [t["id"] for t in page["items"]] == [b["id"]]
    skip = junction_client.get("/api/tasks/?limit=1&skip=1").get_json()
    offset = junction_client.get("/api/tasks/?limit=1&offset=1").get_json()
    assert [t["id"] for t in skip["items"]] == [t["id"] for t in offset["items"]] == [a["id"]]
    assert skip["skip"] == skip["offset"] == 1
    clash = junction_client.get("/api/tasks/?skip=1&offset=2")
    assert clash.status_code == 422

    by_team = junction_client.get("/api/tasks/?team=subprocess").get_json()
    assert [t["id"] for t in by_team["items"]] == [b["id"]]
    assert junction_client.get("/api/tasks/?status=completed").get_json()["total"] == 0
    assert junction_client.get("/api/tasks/?status=pending").get_json()["total"] == 2
    assert junction_client.get("/api/tasks/?status=bogus").status_code == 422

    patched = junction_client.patch(f"/api/tasks/{a['id']}", json={"description": "d"})
    assert patched.status_code == 200 and patched.get_json()["description"] == "d"
    assert junction_client.delete(f"/api/tasks/{a['id']}").status_code == 204
    assert junction_client.get(f"/api/tasks/{a['id']}").status_code == 404


def test_task_input_is_checked_by_the_team_schema(junction_client) -> None:
    bad = junction_client.post(
        "/api/tasks/", json={"name": "x", "team": "echo", "config": {"steps": "many"}}
    )
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "config.steps"
    unknown = junction_client.post("/api/tasks/", json={"name": "x", "team": "nope"})
    assert unknown.status_code == 422 and "echo" in unknown.get_json()["detail"]
    no_project = junction_client.post("/api/tasks/", json={"name": "x", "project": "ghost"})
    assert no_project.status_code == 404
    shell = junction_client.post("/api/tasks/", json={"name": "x", "team": "subprocess"})
    assert shell.status_code == 422  # steps are required
    teams = junction_client.get("/api/tasks/teams").get_json()["items"]
    assert {t["name"] for t in teams} >= {"echo", "subprocess"}


def test_delete_task_or_run_while_active_is_409(junction_client, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()
    assert junction_client.delete(f"/api/tasks/{task['id']}").status_code == 409
    assert junction_client.delete(f"/api/runs/{run['id']}").status_code == 409
    junction_client.patch(f"/api/runs/{run['id']}", json={"status": "cancelled"})
    assert junction_client.delete(f"/api/runs/{run['id']}").status_code == 204
    assert junction_client.delete(f"/api/tasks/{task['id']}").status_code == 204


def test_reject_ends_the_run_cancelled(junction_app, junction_client, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()
    response = junction_client.post(
        f"/api/runs/{run['id']}/approve", json={"approved": False, "feedback": "too risky"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["approved"], body["feedback"]) == ("cancelled", False, "too risky")
    kinds = [e["type"] for e in channel_events(junction_app, f"agents:run:{run['id']}")]
    assert kinds[-1] == "rejected" and "approved" not in kinds
    assert drain() == 0  # nothing executes a rejected plan
    assert junction_client.get(f"/api/runs/{run['id']}/logs").get_json()["total"] == 0


def test_approval_deadline_on_the_fake_clock(
    clocked_app, junction_client, junction_clock, drain
) -> None:
    task = make_task(junction_client, approval_timeout=60)
    run = start_run(junction_client, task["id"])
    drain()
    junction_clock.advance(59)
    assert run_job(clocked_app, "agents.deadlines") == 0
    assert junction_client.get(f"/api/runs/{run['id']}").get_json()["phase"] == "awaiting_approval"
    junction_clock.advance(2)
    assert run_job(clocked_app, "agents.deadlines") == 1
    timed_out = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert timed_out["status"] == "timeout" and "deadline" in timed_out["error"]
    last = channel_events(clocked_app, f"agents:run:{run['id']}")[-1]
    assert last["type"] == "failure" and last["data"]["data"]["reason"] == "approval_timeout"
    late = junction_client.post(f"/api/runs/{run['id']}/approve", json={"approved": True})
    assert late.status_code == 409 and late.get_json()["run_status"] == "timeout"
    task = junction_client.get(f"/api/tasks/{task['id']}").get_json()
    assert (task["status"], task["failed_runs"]) == ("timeout", 1)


def test_approval_after_the_deadline_times_out_even_before_the_job(
    clocked_app, junction_client, junction_clock, drain
) -> None:
    task = make_task(junction_client)  # the default: 300 s
    run = start_run(junction_client, task["id"])
    drain()
    junction_clock.advance(301)
    late = junction_client.post(f"/api/runs/{run['id']}/approve", json={"approved": True})
    assert late.status_code == 409 and late.get_json()["run_status"] == "timeout"


def test_approve_replays_with_the_same_idempotency_key(junction_client, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()
    url, headers = f"/api/runs/{run['id']}/approve", {"Idempotency-Key": "decide-1"}
    first = junction_client.post(url, json={"approved": True}, headers=headers)
    replay = junction_client.post(url, json={"approved": True}, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == first.get_json()
    other = junction_client.post(url, json={"approved": True}, headers={"Idempotency-Key": "k2"})
    assert other.status_code == 409


def test_opting_out_of_approval_and_failing_at_step_n(junction_app, junction_client, drain):
    task = make_task(junction_client, require_approval=False, config={"steps": 3, "fail_at": 2})
    run = start_run(junction_client, task["id"])
    drain()
    body = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert body["status"] == "failed" and "echo-2" in body["error"]
    kinds = [e["type"] for e in channel_events(junction_app, f"agents:run:{run['id']}")]
    assert "approval_required" not in kinds and kinds[-1] == "failure"
    assert kinds.count("progress") == 1
    lines = junction_client.get(f"/api/runs/{run['id']}/logs").get_json()["items"]
    assert [line["step_id"] for line in lines] == ["echo-1", "echo-2"]


def test_cancel_a_parked_run_and_filters_on_runs(junction_app, junction_client, drain) -> None:
    task = make_task(junction_client)
    keep = start_run(junction_client, task["id"])
    gone = start_run(junction_client, task["id"])
    drain()
    waiting = junction_client.get("/api/runs/?phase=awaiting_approval").get_json()
    assert {r["id"] for r in waiting["items"]} == {keep["id"], gone["id"]}
    response = junction_client.patch(f"/api/runs/{gone['id']}", json={"status": "cancelled"})
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    again = junction_client.patch(f"/api/runs/{gone['id']}", json={"status": "cancelled"})
    assert again.status_code == 409
    bad = junction_client.patch(f"/api/runs/{keep['id']}", json={"status": "completed"})
    assert bad.status_code == 422
    cancelled = junction_client.get("/api/runs/?status=cancelled").get_json()
    assert [r["id"] for r in cancelled["items"]] == [gone["id"]]
    by_task = junction_client.get(f"/api/runs/?task_id={task['id']}&skip=1&limit=1").get_json()
    assert by_task["total"] == 2 and by_task["skip"] == 1 and len(by_task["items"]) == 1
    assert channel_events(junction_app, f"agents:run:{gone['id']}")[-1]["type"] == "cancelled"


def test_metrics_endpoints(junction_client, drain) -> None:
    task = make_task(junction_client, require_approval=False)
    for _ in range(2):
        start_run(junction_client, task["id"])
    drain()
    page = junction_client.get(f"/api/metrics/?task_id={task['id']}&name=echo_steps").get_json()
    assert page["total"] == 4 and {m["name"] for m in page["items"]} == {"echo_steps"}
    one = junction_client.get(f"/api/metrics/{page['items'][0]['id']}").get_json()
    assert one["value"] == 1 and one["timestamp"]
    summary = junction_client.get(f"/api/metrics/task/{task['id']}/summary").get_json()
    assert summary["total_runs"] == 2 and summary["success_rate"] == 100.0
    steps = summary["metrics"]["echo_steps"]
    assert (steps["min"], steps["max"], steps["avg"], steps["last"], steps["count"]) == (
        1,
        1,
        1,
        1,
        4,
    )
    assert summary["metrics"]["run_succeeded"]["count"] == 2
    assert junction_client.get("/api/metrics/999999").status_code == 404
    assert junction_client.get("/api/metrics/task/999999/summary").status_code == 404


def test_a_decision_whose_request_died_before_submitting_is_healed(
    clocked_app, junction_client, junction_clock, drain
) -> None:
    import sqlalchemy as sa

    from app.db import db
    from plugins.agents.models import AgentRun

    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()
    with clocked_app.app_context():
        # What approve writes before it submits the execution; the request dies right there.
        db.session.execute(
            sa.update(AgentRun)
            .where(AgentRun.id == run["id"])
            .values(
                phase="executing", approved=True, operation_id=None, updated_at=junction_clock.now()
            )
        )
        db.session.commit()
    assert run_job(clocked_app, "agents.deadlines") == 0  # not yet stale: maybe in flight
    assert junction_client.get(f"/api/runs/{run['id']}").get_json()["status"] == "running"
    junction_clock.advance(11)
    assert run_job(clocked_app, "agents.deadlines") == 1
    drain()
    assert junction_client.get(f"/api/runs/{run['id']}").get_json()["status"] == "completed"


def test_a_decision_while_planning_is_still_finishing_executes_exactly_once(
    junction_app, junction_client, drain
) -> None:
    from app import operations as ops
    from plugins.agents.runs import KIND, dedupe_key

    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()
    with junction_app.app_context():
        # The planning operation has parked the run but not yet recorded its own success.
        ops.submit(
            KIND, {"run_id": run["id"], "stage": "plan"}, dedupe_key=dedupe_key(run["id"], "plan")
        )
    approved = junction_client.post(f"/api/runs/{run['id']}/approve", json={"approved": True})
    assert approved.status_code == 200
    assert drain() == 2  # the late planning operation and the execution
    body = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert body["status"] == "completed"
    lines = junction_client.get(f"/api/runs/{run['id']}/logs").get_json()["items"]
    assert [line["line"] for line in lines] == ["demo (1)", "demo (2)"]
