"""End to end with real processes: a parked run survives a restart of every process, and a
runner SIGKILLed inside a subprocess step is resumed from the last finished step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import websocket

from tests.support import (
    Gunicorn,
    fresh_database,
    migrate_database,
    redis_url,
    start_operations_runner,
    wait_until,
)

pytestmark = pytest.mark.e2e


def _env(url: str, instance: Path, **extra: str) -> dict[str, str]:
    env = {
        "JUNCTION_DATABASE_URL": url,
        "JUNCTION_INSTANCE_PATH": str(instance),
        "JUNCTION_LOG_LEVEL": "info",
        **extra,
    }
    if redis_url():
        env["JUNCTION_REDIS_URL"] = str(redis_url())
    return env


def _run(base: str, run_id: int) -> dict[str, Any]:
    return requests.get(f"{base}/api/runs/{run_id}", timeout=5).json()


def test_a_parked_run_survives_a_restart_of_every_process(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        # A short lease: a worker stopped between parking the run and announcing it leaves
        # the announcement to the next server's runners, soon.
        env = _env(url, instance, JUNCTION_SCHEDULER="on", JUNCTION_OPERATION_LEASE_SECONDS="2")
        with Gunicorn(env, workers=2).start(tmp_path / "gunicorn-1.log") as first:
            task = requests.post(
                f"{first.url}/api/tasks/",
                json={"name": "restart", "config": {"steps": 3}},
                timeout=5,
            ).json()
            run = requests.post(
                f"{first.url}/api/runs/", json={"task_id": task["id"]}, timeout=5
            ).json()
            wait_until(
                lambda: _run(first.url, run["id"])["phase"] == "awaiting_approval",
                timeout=30,
                what="the run to park for approval",
            )
        # Every process is gone; the decision arrives at a new server.
        with Gunicorn(env, workers=2).start(tmp_path / "gunicorn-2.log") as second:
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{second.port}/ws/runs/{run['id']}", timeout=10
            )
            got: list[dict[str, Any]] = []
            try:
                kinds: list[str] = []
                while "approval_required" not in kinds:
                    try:
                        message = json.loads(ws.recv())
                    except websocket.WebSocketTimeoutException:
                        raise AssertionError(f"after {got}: {second.log()[-3000:]}") from None
                    got.append(message)
                    if "event_type" in message:
                        kinds.append(message["event_type"])
                # At least once: a worker stopped half-way through announcing the plan leaves
                # the whole announcement to the runner that takes over.
                assert kinds[0] == "analysis_start" and kinds[-1] == "approval_required"
                assert "plan_ready" in kinds
            finally:
                ws.close()
            decided = requests.post(
                f"{second.url}/api/runs/{run['id']}/approve", json={"approved": True}, timeout=5
            )
            assert decided.status_code == 200, decided.text
            done = wait_until(
                lambda: (body := _run(second.url, run["id"]))["status"] == "completed" and body,
                timeout=30,
                what="the approved run to complete",
            )
            assert done["result"] == {"steps": 3}
            again = requests.post(
                f"{second.url}/api/runs/{run['id']}/approve", json={"approved": True}, timeout=5
            )
            assert again.status_code == 409


@pytest.mark.parametrize("repeatable", [True, False])
def test_sigkill_during_a_subprocess_step(tmp_path: Path, repeatable: bool) -> None:
    instance, marker, pidfile = tmp_path / "instance", tmp_path / "marker", tmp_path / "pid"
    instance.mkdir()
    # The middle step blocks the first time (exec: the step's process is the sleeper, which
    # dies with the runner) and passes when repeated.
    middle = (
        f"if [ -f {marker} ]; then echo again; "
        f"else touch {marker}; echo $$ > {pidfile}; exec sleep 120; fi"
    )
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            **os.environ,
            **_env(url, instance, JUNCTION_SCHEDULER="off"),
            "JUNCTION_OPERATION_LEASE_SECONDS": "2",
        }
        from app import create_app
        from app.db import db

        app = create_app(
            {"JUNCTION_DATABASE_URL": url, "JUNCTION_SCHEDULER": "off"}, instance_path=instance
        )
        client = app.test_client()
        task = client.post(
            "/api/tasks/",
            json={
                "name": "kill",
                "team": "subprocess",
                "require_approval": False,
                "config": {
                    "steps": [
                        {"id": "first", "run": "echo first"},
                        {"id": "middle", "run": middle, "repeatable": repeatable},
                        {"id": "last", "run": "echo last"},
                    ]
                },
            },
        ).get_json()
        run = client.post("/api/runs/", json={"task_id": task["id"]}).get_json()
        runners: list[subprocess.Popen[bytes]] = []
        try:
            runner = start_operations_runner(env, tmp_path / "runner-1.log")
            runners.append(runner)
            wait_until(pidfile.exists, timeout=30, what="the middle step to start")
            step_pid = int(pidfile.read_text().strip())
            os.kill(runner.pid, signal.SIGKILL)
            runner.wait(timeout=10)

            def step_gone() -> bool:
                try:
                    os.kill(step_pid, 0)
                except ProcessLookupError:
                    return True
                return Path(f"/proc/{step_pid}/stat").read_text().split(") ")[1][0] == "Z"

            wait_until(step_gone, timeout=10, what="the step to die with its runner")
            second = start_operations_runner(env, tmp_path / "runner-2.log")
            runners.append(second)
            assert second.wait(timeout=60) == 0, (tmp_path / "runner-2.log").read_text()

            body = client.get(f"/api/runs/{run['id']}").get_json()
            lines = client.get(f"/api/runs/{run['id']}/logs?limit=500").get_json()["items"]
            said = [(line["step_id"], line["line"]) for line in lines]
            assert said.count(("first", "first")) == 1  # a finished step never runs again
            if repeatable:
                assert body["status"] == "completed", body
                assert ("middle", "again") in said and ("last", "last") in said
            else:
                assert body["status"] == "failed"
                assert "'middle' was interrupted and is not safe to repeat" in body["error"]
                assert not [s for s in said if s[0] == "last"]
            with app.app_context():
                from plugins.agents.models import AgentRunStep

                attempts = dict(
                    db.session.execute(
                        sa.select(AgentRunStep.step_id, AgentRunStep.attempts).where(
                            AgentRunStep.run_id == run["id"]
                        )
                    ).all()
                )
                db.engine.dispose()
            assert attempts["first"] == 1
            assert attempts["middle"] == (2 if repeatable else 1)
        finally:
            for process in runners:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def test_an_agent_dies_with_its_owner_and_restarts_elsewhere(tmp_path: Path) -> None:
    instance, checkout = tmp_path / "instance", tmp_path / "checkout"
    instance.mkdir()
    checkout.mkdir()
    script = tmp_path / "agent.sh"
    script.write_text(
        "trap 'soft=1' USR1\necho started $$\nwhile [ -z \"$soft\" ]; do sleep 0.05; done\n"
    )
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            **os.environ,
            **_env(url, instance, JUNCTION_SCHEDULER="off"),
            "JUNCTION_OPERATION_LEASE_SECONDS": "2",
        }
        from app import create_app, settings
        from app.db import db

        app = create_app(
            {"JUNCTION_DATABASE_URL": url, "JUNCTION_SCHEDULER": "off"}, instance_path=instance
        )
        client = app.test_client()
        assert (
            client.post("/api/projects", json={"name": "demo", "path": str(checkout)}).status_code
            == 201
        )
        with app.app_context():
            settings.set_values("agents", {"agent_command": f"sh {script}"}, project="demo")

        def status() -> dict[str, Any]:
            return client.get("/api/projects/demo/agent/status").get_json()

        runners: list[subprocess.Popen[bytes]] = []
        try:
            assert client.post("/api/projects/demo/agent/start").status_code == 200
            first = start_operations_runner(env, tmp_path / "runner-1.log")
            runners.append(first)
            wait_until(
                lambda: status()["status"] == "running" and status()["output"],
                timeout=30,
                what="the agent to start",
            )
            old_pid = status()["pid"]
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)

            def dead(pid: int) -> bool:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return True
                return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"

            wait_until(lambda: dead(old_pid), timeout=10, what="the agent to die with its owner")
            second = start_operations_runner(env, tmp_path / "runner-2.log")
            runners.append(second)
            wait_until(
                lambda: (
                    status()["status"] == "running"
                    and status()["pid"] != old_pid
                    and status()["output"][-1].startswith("started")
                ),
                timeout=30,
                what="another runner to start the agent again",
            )
            soft = client.post("/api/projects/demo/agent/soft-stop")
            assert soft.get_json()["status"] == "finishing"
            assert second.wait(timeout=30) == 0, (tmp_path / "runner-2.log").read_text()
            final = status()
            assert (final["status"], final["exit_code"]) == ("stopped", 0)
            with app.app_context():
                db.engine.dispose()
        finally:
            for process in runners:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
