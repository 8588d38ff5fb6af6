"""The reference orchestrator works a real project's features to green, and soft stop through
the agent API reaches it as SIGUSR1: it finishes its feature, claims nothing new, exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import settings
from tests.support import wait_until

JUNCTION = str(Path(sys.executable).with_name("junction"))


@pytest.fixture
def project(junction_app, junction_client, tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    assert (
        junction_client.post(
            "/api/projects", json={"name": "demo", "path": str(checkout)}
        ).status_code
        == 201
    )
    return checkout


def feature(client, name: str, priority: int, deps: list[int] | None = None) -> int:
    response = client.post(
        "/api/projects/demo/features",
        json={"name": name, "priority": priority, "dependencies": deps or []},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def set_commands(app, **values: str) -> None:
    with app.app_context():
        settings.set_values("agents", values, project="demo")


def child_env(app) -> dict[str, str]:
    return {
        **os.environ,
        "JUNCTION_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "JUNCTION_INSTANCE_PATH": app.instance_path,
        "JUNCTION_SCHEDULER": "off",
    }


def test_orchestrate_works_features_in_order_with_dependencies(
    junction_app, junction_client, project: Path
) -> None:
    # Features named "broken" fail; each run appends its name to a file in the checkout.
    set_commands(
        junction_app,
        feature_command='echo "$JUNCTION_FEATURE_NAME" >> order.txt; '
        'test "$JUNCTION_FEATURE_NAME" != broken',
    )
    base = feature(junction_client, "base", 2)
    broken = feature(junction_client, "broken", 1)
    top = feature(junction_client, "top", 1, [base])
    blocked = feature(junction_client, "blocked", 1, [broken])
    done = subprocess.run(
        [JUNCTION, "agents", "orchestrate", "demo"],
        env=child_env(junction_app),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # Priority order among those whose dependencies pass; "blocked" never becomes claimable.
    assert (project / "order.txt").read_text().split() == ["broken", "base", "top"]
    features = {
        f["id"]: f for f in junction_client.get("/api/projects/demo/features").get_json()["items"]
    }
    assert [features[i]["passes"] for i in (base, broken, top, blocked)] == [
        True,
        False,
        True,
        False,
    ]
    assert not any(f["in_progress"] for f in features.values())
    runs = junction_client.get(f"/api/projects/demo/features/{top}/test-runs").get_json()
    assert [(r["passed"], r["return_code"]) for r in runs["items"]] == [(True, 0)]


def test_soft_stop_reaches_the_reference_orchestrator(
    junction_app, junction_client, drain, project: Path
) -> None:
    release = project / "release"
    set_commands(
        junction_app,
        feature_command=f'echo "working on $JUNCTION_FEATURE_NAME"; '
        f"while [ ! -f {release} ]; do sleep 0.05; done",
    )
    first = feature(junction_client, "first", 1)
    second = feature(junction_client, "second", 2)
    assert junction_client.post("/api/projects/demo/agent/start").status_code == 200
    import threading

    # The operation that supervises the agent process runs in this thread until the process
    # ends; the test joins it, so no query of it outlives the test (and its tables).
    supervisor = threading.Thread(target=drain, daemon=True)
    supervisor.start()

    def output() -> list[str]:
        return junction_client.get("/api/projects/demo/agent/status").get_json()["output"]

    wait_until(lambda: "working on first" in output(), timeout=30, what="the first feature")
    soft = junction_client.post("/api/projects/demo/agent/soft-stop").get_json()
    assert soft["status"] == "finishing"
    wait_until(
        lambda: any(line.startswith("soft stop") for line in output()),
        what="SIGUSR1 to reach the orchestrator",
    )
    assert (
        junction_client.get("/api/projects/demo/agent/status").get_json()["status"] == "finishing"
    )
    release.touch()
    wait_until(
        lambda: (
            junction_client.get("/api/projects/demo/agent/status").get_json()["status"] == "stopped"
        ),
        timeout=30,
        what="the orchestrator to exit by itself",
    )
    status = junction_client.get("/api/projects/demo/agent/status").get_json()
    assert status["exit_code"] == 0 and "orchestrator finished" in status["output"]
    features = {
        f["id"]: f for f in junction_client.get("/api/projects/demo/features").get_json()["items"]
    }
    assert features[first]["passes"] is True
    # Claimed nothing new after the soft stop.
    assert features[second]["passes"] is False
    assert (
        junction_client.get(f"/api/projects/demo/features/{second}/test-runs").get_json()["total"]
        == 0
    )
    supervisor.join(timeout=30)
    assert not supervisor.is_alive(), "the supervising operation did not finish"
