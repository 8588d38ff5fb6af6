"""The ``subprocess`` team: output streamed line by line, exit codes as metrics, the project's
directory as cwd, step timeouts, and cancel reaching the whole process group."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tests.plugins.agents.conftest import channel_events, make_task, start_run
from tests.support import wait_until


def shell_task(client, steps, **body):
    return make_task(
        client,
        team="subprocess",
        config={"steps": steps, **body.pop("config", {})},
        require_approval=False,
        **body,
    )


def test_output_exit_codes_and_project_directory(
    junction_app, junction_client, drain, tmp_path: Path
) -> None:
    project_dir = tmp_path / "checkout"
    project_dir.mkdir()
    created = junction_client.post("/api/projects", json={"name": "demo", "path": str(project_dir)})
    assert created.status_code == 201, created.get_json()
    task = shell_task(
        junction_client,
        [
            {"id": "where", "run": "pwd; echo oops >&2"},
            {"id": "count", "run": "for i in 1 2 3; do echo line $i; done"},
            {"id": "fail", "run": "exit 3"},
            {"id": "never", "run": "echo unreachable"},
        ],
        project="demo",
    )
    run = start_run(junction_client, task["id"])
    drain()
    body = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert body["status"] == "failed" and "exited with code 3" in body["error"]
    lines = junction_client.get(f"/api/runs/{run['id']}/logs").get_json()["items"]
    got = [(line["step_id"], line["stream"], line["line"]) for line in lines]
    assert ("where", "stdout", str(project_dir.resolve())) in got
    assert ("where", "stderr", "oops") in got
    assert [g[2] for g in got if g[0] == "count"] == ["line 1", "line 2", "line 3"]
    assert not [g for g in got if g[0] == "never"]
    codes = junction_client.get(f"/api/metrics/?run_id={run['id']}&name=exit_code").get_json()
    assert sorted((m["labels"]["step"], m["value"]) for m in codes["items"]) == [
        ("count", 0),
        ("fail", 3),
        ("where", 0),
    ]
    # Log lines are live events on the run's channel too.
    logged = [
        e for e in channel_events(junction_app, f"agents:run:{run['id']}") if e["type"] == "log"
    ]
    assert [
        e["data"]["data"]["line"] for e in logged if e["data"]["data"]["step_id"] == "count"
    ] == ["line 1", "line 2", "line 3"]


def test_a_step_timeout_fails_the_run(junction_client, drain) -> None:
    task = shell_task(
        junction_client,
        [{"id": "slow", "run": "sleep 30", "timeout": 0.5}],
        config={"kill_grace": 1},
    )
    run = start_run(junction_client, task["id"])
    drain()
    body = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert body["status"] == "failed" and "timed out" in body["error"]


def test_cancel_stops_the_whole_process_group(junction_client, drain, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The step starts a grandchild that would outlive a signal to the shell alone.
    script = f"sleep 60 & echo $! > {pids}; echo started; wait"
    task = shell_task(junction_client, [{"id": "long", "run": script}], config={"kill_grace": 2})
    run = start_run(junction_client, task["id"])
    worker = threading.Thread(target=drain)
    worker.start()
    wait_until(
        lambda: junction_client.get(f"/api/runs/{run['id']}/logs").get_json()["total"] >= 1,
        what="the step's first line",
    )
    grandchild = int(pids.read_text().strip())
    response = junction_client.patch(f"/api/runs/{run['id']}", json={"status": "cancelled"})
    assert response.status_code == 200 and response.get_json()["cancel_requested"] is True
    worker.join(timeout=20)
    assert not worker.is_alive()
    body = junction_client.get(f"/api/runs/{run['id']}").get_json()
    assert body["status"] == "cancelled"

    def gone() -> bool:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, timeout=5, what="the grandchild to be gone")
