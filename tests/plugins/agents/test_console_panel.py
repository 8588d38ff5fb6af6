"""The agents panel of the web console: tasks, runs and the run awaiting approval with its plan,
Approve / Reject through the plugin's approval service (exactly once: the second click gets the
409 as an error), a run's page with its log tail and metric summaries following the run's
channel, each project's agent process with Start / Soft stop / Stop, CSRF on every action, and
hostile text escaped everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.plugins.agents.conftest import make_task, start_run

PANEL = "/console/agents/"
JSON = {"X-Requested-With": "junction-console"}
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def page(client: FlaskClient, query: str = "") -> str:
    response = client.get(PANEL + query)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def csrf(client: FlaskClient) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page(client))
    assert match
    return match.group(1)


def act(client: FlaskClient, action: str, **form: str) -> Any:
    data = {**form, "csrf_token": csrf(client)}
    return client.post(f"{PANEL}{action}", data=data, headers=JSON)


def channels_of(html: str) -> list[str]:
    match = re.search(r"data-channels='([^']*)'", html)
    assert match
    return json.loads(match.group(1).replace("&#34;", '"').replace("&quot;", '"'))


def run_json(client: FlaskClient, run_id: int) -> dict[str, Any]:
    return client.get(f"/api/runs/{run_id}").get_json()


@pytest.fixture
def awaiting(junction_client: FlaskClient, drain) -> dict[str, Any]:
    """A run of a task with a hostile name, planned and parked for approval."""
    task = make_task(junction_client, name=f"Deploy {HOSTILE}")
    run = start_run(junction_client, task["id"])
    assert drain() == 1
    assert run_json(junction_client, run["id"])["phase"] == "awaiting_approval"
    return {"task": task, "run": run}


@pytest.fixture
def project(junction_client: FlaskClient, tmp_path: Path) -> str:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    created = junction_client.post("/api/projects", json={"name": "demo", "path": str(checkout)})
    assert created.status_code == 201
    return "demo"


def test_empty_panel_says_how_to_start_and_follows_the_agents_channel(junction_client) -> None:
    html = page(junction_client)
    assert "No task yet" in html and "No run yet" in html and "No run awaits a decision" in html
    assert "No project registered" in html
    assert channels_of(html) == ["agents", "operations"]
    assert 'href="/console/agents/"' in page(junction_client, "")  # in the navigation


def test_runs_awaiting_approval_show_their_plan_and_buttons_escaped(
    junction_client, awaiting
) -> None:
    run_id = awaiting["run"]["id"]
    html = page(junction_client)
    assert f'id="awaiting-{run_id}"' in html
    assert "<code>echo-1</code> Echo 1/2" in html and "<code>echo-2</code> Echo 2/2" in html
    assert 'action="/console/agents/approve"' in html
    assert 'formaction="/console/agents/reject"' in html
    assert f'name="run_id" value="{run_id}"' in html
    assert f'<tr id="run-{run_id}" data-status="running"' in html
    assert f'<tr id="task-{awaiting["task"]["id"]}" data-status="running"' in html
    # The hostile task name is in the awaiting list, the runs and the tasks: escaped each time.
    assert html.count("Deploy &lt;img src=x onerror=&#34;alert(1)&#34;&gt;") >= 3
    assert "<script>alert(2)" not in html and "<img src=x" not in html


def test_approve_works_once_then_the_second_click_gets_the_409(
    junction_client, awaiting, drain
) -> None:
    run_id = awaiting["run"]["id"]
    refused = junction_client.post(f"{PANEL}approve", data={"run_id": str(run_id)}, headers=JSON)
    assert refused.status_code == 403
    assert run_json(junction_client, run_id)["phase"] == "awaiting_approval"

    approved = act(junction_client, "approve", run_id=str(run_id), feedback="ship it")
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json() == {
        "ok": True,
        "message": f"Run {run_id} approved: its plan is executing.",
    }
    after = run_json(junction_client, run_id)
    assert after["phase"] == "executing" and after["feedback"] == "ship it"

    again = act(junction_client, "approve", run_id=str(run_id))
    assert again.status_code == 409
    assert again.get_json()["ok"] is False
    assert "cannot be approved or rejected now" in again.get_json()["message"]
    rejected_late = act(junction_client, "reject", run_id=str(run_id))
    assert rejected_late.status_code == 409
    # The plain-HTML post (no script) shows the same refusal as an error notice in the page.
    plain = junction_client.post(
        f"{PANEL}approve", data={"run_id": str(run_id), "csrf_token": csrf(junction_client)}
    )
    assert plain.status_code == 409
    assert "cannot be approved or rejected now" in plain.get_data(as_text=True)
    assert run_json(junction_client, run_id)["phase"] == "executing"

    assert drain() == 1
    assert run_json(junction_client, run_id)["status"] == "completed"
    html = page(junction_client)
    assert "No run awaits a decision" in html
    assert f'<tr id="run-{run_id}" data-status="completed"' in html


def test_reject_ends_the_run_cancelled(junction_client, awaiting, drain) -> None:
    run_id = awaiting["run"]["id"]
    refused = junction_client.post(f"{PANEL}reject", data={"run_id": str(run_id)}, headers=JSON)
    assert refused.status_code == 403
    answer = act(junction_client, "reject", run_id=str(run_id), feedback=HOSTILE)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message"] == f"Run {run_id} rejected: it ended cancelled."
    assert drain() == 0  # nothing executes
    detail = page(junction_client, f"?run={run_id}")
    assert 'data-run-status="cancelled"' in detail
    assert "rejected" in detail and "&lt;script&gt;alert(2)&lt;/script&gt;" in detail
    assert "<script>alert(2)" not in detail


def test_bad_run_ids_are_refused_with_a_message(junction_client) -> None:
    for value in ("", "abc", "-1", "0", "99999999999999999999"):
        answer = act(junction_client, "approve", run_id=value)
        assert answer.status_code == 422, (value, answer.get_json())
        assert "run_id must be a positive whole number" in answer.get_json()["message"]
    missing = act(junction_client, "approve", run_id="424242")
    assert missing.status_code == 404
    assert "No run with id 424242" in missing.get_json()["message"]
    too_long = act(junction_client, "reject", run_id="1", feedback="x" * 2001)
    assert too_long.status_code == 422


def test_a_run_page_shows_its_log_tail_and_metrics_and_follows_the_run(
    junction_client, awaiting, drain
) -> None:
    run_id = awaiting["run"]["id"]
    waiting = page(junction_client, f"?run={run_id}")
    assert channels_of(waiting) == ["agents", "operations", f"agents:run:{run_id}"]
    assert 'data-run-phase="awaiting_approval"' in waiting
    assert 'id="run-feedback-' + str(run_id) + '"' in waiting  # decide from the run's page too
    fragment = junction_client.get(f"{PANEL}?run={run_id}&fragment=1").get_data(as_text=True)
    assert "<nav" not in fragment and 'id="agents-run"' in fragment

    act(junction_client, "approve", run_id=str(run_id))
    drain()
    done = page(junction_client, f"?run={run_id}")
    assert 'data-run-status="completed"' in done
    assert done.count('<tr data-step-id="echo-') == 2
    # The echo team logs the task's name: the log tail escapes it.
    assert "[echo-1] Deploy &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in done
    assert "<img src=x" not in done and "<script>alert(2)" not in done
    assert "<code>echo_steps</code>" in done  # run and task metric summaries
    assert "Metrics of run " + str(run_id) in done
    assert done.count("<code>echo_steps</code>") == 2


def test_unknown_or_malformed_run_is_a_message_not_an_error(junction_client) -> None:
    for value in ("424242", "abc", '"><script>x</script>'):
        html = page(junction_client, f"?run={value}")
        assert "Run not found" in html
        assert "<script>x" not in html
        assert channels_of(html) == ["agents", "operations"]


def test_agent_process_start_soft_stop_and_stop(junction_client, project) -> None:
    html = page(junction_client)
    assert '<tr id="agent-demo" data-status="stopped"' in html
    assert 'action="/console/agents/start"' in html
    assert 'action="/console/agents/stop"' not in html

    refused = junction_client.post(f"{PANEL}start", data={"project": "demo"}, headers=JSON)
    assert refused.status_code == 403
    assert junction_client.get("/api/projects/demo/agent/status").get_json()["status"] == "stopped"

    not_running = act(junction_client, "soft-stop", project="demo")
    assert not_running.status_code == 409
    assert "only a running agent can be soft-stopped" in not_running.get_json()["message"]

    started = act(junction_client, "start", project="demo")
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["message"] == "The agent of demo is starting."
    html = page(junction_client)
    assert '<tr id="agent-demo" data-status="starting"' in html
    assert 'action="/console/agents/soft-stop"' in html and 'action="/console/agents/stop"' in html
    assert act(junction_client, "start", project="demo").status_code == 409

    soft = act(junction_client, "soft-stop", project="demo")
    assert soft.status_code == 200, soft.get_json()
    assert "Soft stop initiated" in soft.get_json()["message"]
    assert junction_client.get("/api/projects/demo/agent/status").get_json()["status"] == (
        "finishing"
    )

    # No runner took the operation yet: the hard stop cancels it and the agent is stopped.
    stopped = act(junction_client, "stop", project="demo")
    assert stopped.status_code == 200, stopped.get_json()
    assert stopped.get_json()["message"].startswith("The agent of demo is stopped")
    assert '<tr id="agent-demo" data-status="stopped"' in page(junction_client)

    assert act(junction_client, "start", project="ghost").status_code == 404
    assert act(junction_client, "stop", project="").status_code == 422
