"""A team contributed by a third-party plugin (examples/hello_plugin) through the hookspec."""

from __future__ import annotations

import pytest

from tests.plugins.agents.conftest import make_task, start_run


@pytest.fixture
def junction_plugins() -> list[str]:
    return ["agents", "hello"]


def test_a_third_party_team_plans_and_executes(junction_client, drain) -> None:
    teams = {t["name"] for t in junction_client.get("/api/tasks/teams").get_json()["items"]}
    assert teams == {"echo", "subprocess", "hello"}
    bad = junction_client.post("/api/tasks/", json={"name": "x", "team": "hello", "config": {}})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "config"
    task = make_task(
        junction_client, team="hello", config={"names": ["Ada", "Grace"]}, require_approval=False
    )
    run = start_run(junction_client, task["id"])
    drain()
    assert junction_client.get(f"/api/runs/{run['id']}").get_json()["status"] == "completed"
    lines = junction_client.get(f"/api/runs/{run['id']}/logs").get_json()["items"]
    assert [line["line"] for line in lines] == ["Hello, Ada!", "Hello, Grace!"]
    summary = junction_client.get(f"/api/metrics/run/{run['id']}/summary").get_json()
    assert summary["metrics"]["greetings"]["count"] == 2


def test_the_team_plugin_loads_without_agents(junction_make_app) -> None:
    app = junction_make_app(plugins=["hello"])
    plugins = {p["name"]: p for p in app.test_client().get("/api/plugins").get_json()["items"]}
    assert plugins["hello"]["status"] == "loaded"
