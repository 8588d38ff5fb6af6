"""``junction agents tasks|runs|approve|logs``."""

from __future__ import annotations

import json

from app.testing import invoke
from tests.plugins.agents.conftest import make_task, start_run


def test_cli_lists_approves_and_prints_logs(junction_client, junction_runner, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()
    tasks = invoke(junction_runner, "agents", "tasks", "--team", "echo")
    assert tasks.exit_code == 0, tasks.output
    assert [t["id"] for t in json.loads(tasks.output)["items"]] == [task["id"]]
    waiting = invoke(junction_runner, "agents", "runs", "--awaiting")
    assert [r["id"] for r in json.loads(waiting.output)["items"]] == [run["id"]]

    approved = invoke(junction_runner, "agents", "approve", str(run["id"]), "--feedback", "ok")
    assert approved.exit_code == 0, approved.output
    body = json.loads(approved.output)
    assert (body["approved"], body["feedback"], body["phase"]) == (True, "ok", "executing")
    twice = invoke(junction_runner, "agents", "approve", str(run["id"]), "--reject")
    assert twice.exit_code == 1
    assert json.loads(twice.stderr)["status"] == 409

    drain()
    logs = invoke(junction_runner, "agents", "logs", str(run["id"]), "--follow")
    assert logs.exit_code == 0, logs.output
    assert logs.stdout.splitlines() == ["[echo-1] demo (1)", "[echo-2] demo (2)"]
    assert f"run {run['id']} completed" in logs.stderr


def test_cli_reject(junction_client, junction_runner, drain) -> None:
    task = make_task(junction_client)
    run = start_run(junction_client, task["id"])
    drain()
    rejected = invoke(
        junction_runner, "agents", "approve", str(run["id"]), "--reject", "--feedback", "no"
    )
    assert rejected.exit_code == 0
    assert json.loads(rejected.output)["status"] == "cancelled"
    missing = invoke(junction_runner, "agents", "logs", "999999")
    assert missing.exit_code == 1 and json.loads(missing.stderr)["status"] == 404
