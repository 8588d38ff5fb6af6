"""Fixtures of the jira tests: a fake Jira per test, a configured app, no real sleeps.

The fake Jira's clock, the plugin's HTTP client (clock, sleep, a private rate limiter) and the
exporter's pacing all run on the ``junction_clock`` fixture, so waiting for pacing, a
``Retry-After`` or the search index costs no wall time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from app.http.ratelimit import MemoryLimiter
from app.testing import FakeClock
from plugins.jira.client import JiraClient, build_http
from tests.fakes.jira import FakeJira
from tests.fakes.jira.demo import seed_demo
from tests.support import redis_url

PROJECT = "demo"


@dataclass
class Env:
    """A configured Junction app against a fake Jira."""

    app: Flask
    client: Any
    fake: FakeJira
    clock: FakeClock

    def post(self, url: str, json: Any = None, **kwargs: Any) -> Any:
        """POST JSON."""
        return self.client.post(url, json=json if json is not None else {}, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        """GET."""
        return self.client.get(url, **kwargs)

    def session(self, tickets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """A session with ``tickets`` (dependencies given as indexes into the list)."""
        made = self.post("/api/jira/sessions", {"name": "s", **extra})
        assert made.status_code == 201, made.get_json()
        sid = made.get_json()["id"]
        ids: list[str] = []
        for ticket in tickets:
            body = dict(ticket)
            body["dependencies"] = [ids[i] for i in body.get("dependencies", [])]
            created = self.post(f"/api/jira/sessions/{sid}/tickets", body)
            assert created.status_code == 201, created.get_json()
            ids.append(created.get_json()["id"])
        return {"id": sid, "tickets": ids}

    def run(self) -> int:
        """Run every due operation in this thread."""
        from app import operations

        with self.app.app_context():
            return operations.run_pending()

    def status_row(self, sid: str) -> dict[str, Any]:
        """The session as the API shows it."""
        return self.get(f"/api/jira/sessions/{sid}").get_json()


@pytest.fixture
def fake(junction_clock: FakeClock) -> Iterator[FakeJira]:
    """A running demo fake Jira on the test clock; every request must keep the contract."""
    jira = FakeJira(clock=junction_clock)
    seed_demo(jira)
    jira.set_search_lag(None, 2)  # an issue shows once two searches missed it
    with jira:
        yield jira
    assert jira.violations == []
    assert jira.response_problems == []


@pytest.fixture
def make_env(
    make_app: Callable[..., Flask], fake: FakeJira, junction_clock: FakeClock
) -> Iterator[Callable[..., Env]]:
    """Build configured apps; runner threads are stopped while the fake still answers."""
    apps: list[Flask] = []

    def factory(overrides: dict[str, Any] | None = None, pacing: str = "fixed") -> Env:
        config = dict(overrides or {})
        if redis_url():
            config.setdefault("JUNCTION_REDIS_URL", redis_url())
        app = make_app(config)
        apps.append(app)
        options = {
            "clock": junction_clock,
            "sleep": junction_clock.sleep,
            "limiter": MemoryLimiter(),
            "timeout": (2.0, 5.0),
            "max_elapsed": 600.0,
        }
        app.extensions["jira"] = {
            "client_factory": lambda cfg: JiraClient(cfg, build_http(cfg, **options)),
            "sleep": junction_clock.sleep,
            "clock": junction_clock,
        }
        client = app.test_client()
        env = Env(app, client, fake, junction_clock)
        created = client.post(
            "/api/projects", json={"name": PROJECT, "path": str(app.instance_path)}
        )
        assert created.status_code == 201, created.get_json()
        response = env.post(
            "/api/jira/config",
            {
                "site_url": fake.url,
                "email": fake.email,
                "api_token": fake.token,
                "default_project_key": "DEMO",
                "pacing": pacing,
                "pacing_seconds": 1.5,
            },
        )
        assert response.status_code == 200, response.get_json()
        return env

    yield factory
    from app import operations

    for app in apps:
        runtime = operations.runtime(app)
        runtime.runner_threads = 0
        for thread in list(runtime.threads):
            thread.join(timeout=60)
            assert not thread.is_alive(), "an operation runner thread did not finish"


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    """A configured app: global settings point at the demo fake Jira."""
    return make_env({"JUNCTION_OPERATION_RUNNERS": "off"})
