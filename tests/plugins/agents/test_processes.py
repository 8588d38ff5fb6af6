"""Per-project agent processes with real processes and real signals: soft stop goes
running → finishing → stopped by itself; hard stop works from finishing; pids are checked."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from app import settings
from plugins.agents import procs
from tests.support import wait_until

# A test orchestrator: traps SIGUSR1 (stop claiming, finish, exit 0); ignores SIGTERM when
# asked to, so a hard stop needs its SIGKILL.
ORCHESTRATOR = """
trap 'echo got-usr1; soft=1' USR1
{term}
echo started $$
while [ -z "$soft" ]; do sleep 0.05; done
echo finishing-work
while [ ! -f {release} ]; do sleep 0.05; done
echo done
exit 0
"""


@pytest.fixture
def project(junction_app, junction_client, tmp_path: Path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    created = junction_client.post("/api/projects", json={"name": "demo", "path": str(checkout)})
    assert created.status_code == 201
    return checkout


def configure(app, tmp_path: Path, ignore_term: bool) -> Path:
    release = tmp_path / "release"
    script = tmp_path / "orchestrator.sh"
    term = "trap 'echo got-term' TERM" if ignore_term else ""
    script.write_text(ORCHESTRATOR.format(term=term, release=release))
    with app.app_context():
        settings.set_values(
            "agents", {"agent_command": f"sh {script}", "stop_grace": 1}, project="demo"
        )
    return release


def status(client) -> dict:
    response = client.get("/api/projects/demo/agent/status")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def owner(drain) -> threading.Thread:
    """A runner thread owning the agent's operation (as a runner in another process would)."""
    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return thread


def test_soft_stop_running_finishing_stopped(
    junction_app, junction_client, drain, project, tmp_path
) -> None:
    release = configure(junction_app, tmp_path, ignore_term=False)
    assert status(junction_client)["status"] == "stopped"
    started = junction_client.post("/api/projects/demo/agent/start")
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["status"] == "starting"
    again = junction_client.post("/api/projects/demo/agent/start")
    assert again.status_code == 409
    runner = owner(drain)
    wait_until(
        lambda: any(line.startswith("started") for line in status(junction_client)["output"]),
        what="the orchestrator to start",
    )
    body = status(junction_client)
    assert body["status"] == "running" and body["pid"] > 0 and body["started_at"]
    assert body["pid"] != os.getpid()

    soft = junction_client.post("/api/projects/demo/agent/soft-stop")
    assert soft.status_code == 200
    assert soft.get_json() == {
        "success": True,
        "status": "finishing",
        "message": "Soft stop initiated, agents finishing current work",
    }
    wait_until(
        lambda: "finishing-work" in status(junction_client)["output"],
        what="the orchestrator to see SIGUSR1",
    )
    assert status(junction_client)["status"] == "finishing"  # still working
    release.touch()
    wait_until(lambda: status(junction_client)["status"] == "stopped", what="it to stop by itself")
    body = status(junction_client)
    assert body["exit_code"] == 0 and body["output"][-2:] == ["finishing-work", "done"]
    assert "got-usr1" in body["output"]
    runner.join(timeout=10)
    assert not runner.is_alive()
    # Stopped: soft stop is refused, start works again.
    assert junction_client.post("/api/projects/demo/agent/soft-stop").status_code == 409


def test_hard_stop_from_finishing_needs_the_sigkill(
    junction_app, junction_client, drain, project, tmp_path
) -> None:
    configure(junction_app, tmp_path, ignore_term=True)
    assert junction_client.post("/api/projects/demo/agent/start").status_code == 200
    runner = owner(drain)
    wait_until(
        lambda: (
            status(junction_client)["status"] == "running" and status(junction_client)["output"]
        ),
        what="the orchestrator to start",
    )
    pid = status(junction_client)["pid"]
    junction_client.post("/api/projects/demo/agent/soft-stop")
    wait_until(lambda: "finishing-work" in status(junction_client)["output"], what="finishing")
    stopped = junction_client.post("/api/projects/demo/agent/stop")
    assert stopped.status_code == 200 and stopped.get_json()["status"] == "stopping"
    wait_until(lambda: status(junction_client)["status"] == "stopped", what="the hard stop")
    body = status(junction_client)
    assert "got-term" in body["output"]  # SIGTERM arrived and was ignored...
    assert body["exit_code"] == -signal.SIGKILL  # ...so the grace period ended in SIGKILL
    assert not procs.still_ours(pid, procs.start_time(pid) or -1) or procs.is_zombie(pid)
    runner.join(timeout=10)


def test_stop_before_any_runner_took_it(junction_app, junction_client, project, tmp_path):
    configure(junction_app, tmp_path, ignore_term=False)
    junction_client.post("/api/projects/demo/agent/start")
    stopped = junction_client.post("/api/projects/demo/agent/stop")
    assert stopped.get_json()["status"] == "stopped"
    assert junction_client.post("/api/projects/ghost/agent/start").status_code == 404


def test_a_pid_is_signalled_only_while_it_is_the_same_process() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        started = procs.start_time(child.pid)
        assert started is not None and procs.still_ours(child.pid, started)
        # Same pid, another start time: a reused pid is left alone.
        assert not procs.still_ours(child.pid, started + 1)
        assert not procs.signal_process(child.pid, started + 1, signal.SIGTERM)
        assert child.poll() is None
        assert procs.signal_process(child.pid, started, signal.SIGTERM)
        assert child.wait(timeout=5) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
