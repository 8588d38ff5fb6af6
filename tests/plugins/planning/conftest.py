"""Fixtures of the planning tests: a fake Plane per test, a configured project, no real sleeps.

Every test gets a :class:`~tests.fakes.plane.FakePlane` (a real HTTP server on loopback) whose
rate-limit window runs on the ``junction_clock`` fixture (:class:`app.testing.FakeClock`); the
plugin's clients are built by a ``client_factory`` that gives the core's ``ServiceClient`` the
same clock, a ``sleep`` that only advances it, and a private in-memory rate limiter. Waiting
for the rate limit or for a ``Retry-After`` therefore costs no wall time, and nothing depends
on other tests' budgets.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.http.ratelimit import MemoryLimiter
from app.testing import FakeClock
from plugins.planning.client import PlaneClient, build_http
from tests.fakes.plane import FakePlane

PROJECT = "demo"


def git(path: Path, *args: str) -> str:
    """Run git in ``path`` with a fixed identity; return stdout."""
    result = subprocess.run(
        [
            "git",
            "-C",
            str(path),
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def make_repo(path: Path, commits: list[str]) -> Path:
    """A git repository at ``path`` with one empty commit per message."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for message in commits:
        git(path, "commit", "-q", "--allow-empty", "-m", message)
    return path


@dataclass
class Planning:
    """A configured Junction app against a fake Plane."""

    app: Flask
    client: Any
    fake: FakePlane
    clock: FakeClock
    plane_project: str
    project_path: Path
    http_options: dict[str, Any]
    project: str = PROJECT
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def post(self, url: str, json: Any = None, **kwargs: Any) -> Any:
        """POST JSON."""
        return self.client.post(url, json=json if json is not None else {}, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        """GET."""
        return self.client.get(url, **kwargs)

    def cycle(self, name: str, days_from_start: int = -3, length: int = 7) -> str:
        """A cycle that started ``-days_from_start`` days ago (current by default)."""
        start = self.now + dt.timedelta(days=days_from_start)
        return self.fake.add_cycle(
            self.plane_project, name, start, start + dt.timedelta(days=length)
        )

    def item(
        self, name: str, cycle: str | None = None, group: str = "unstarted", **fields: Any
    ) -> str:
        """A work item in ``group``'s state, optionally in ``cycle``."""
        issue = self.fake.add_issue(
            self.plane_project, name, state=self.fake.state_id(self.plane_project, group), **fields
        )
        if cycle:
            self.fake.add_to_cycle(cycle, issue)
        return issue

    def run_operations(self) -> int:
        """Run every due operation in this thread."""
        from app import operations

        with self.app.app_context():
            return operations.run_pending()


def install_client_factory(app: Flask, options: dict[str, Any]) -> None:
    """Make the plugin build clients with ``options`` (read at each call: tests may change it)."""
    app.extensions.setdefault("planning", {})["client_factory"] = lambda cfg: PlaneClient(
        cfg, http=build_http(cfg, **options)
    )


@pytest.fixture
def fake(junction_clock: FakeClock) -> Iterator[FakePlane]:
    """A running fake Plane with Plane's 60/minute window on the fake clock."""
    plane = FakePlane(clock=junction_clock).start()
    yield plane
    plane.release.set()
    plane.stop()


@pytest.fixture
def http_options(junction_clock: FakeClock) -> dict[str, Any]:
    """``ServiceClient`` overrides: fake clock and sleep, a private limiter, short timeouts."""
    return {
        "clock": junction_clock,
        "sleep": junction_clock.sleep,
        "limiter": MemoryLimiter(),
        "timeout": (1.0, 2.0),
        "max_elapsed": 300.0,
    }


@pytest.fixture
def make_planning(
    make_app: Callable[..., Flask],
    fake: FakePlane,
    junction_clock: FakeClock,
    http_options: dict[str, Any],
    tmp_path: Path,
) -> Iterator[Callable[..., Planning]]:
    """Build a configured app (extra config overrides allowed).

    At teardown the apps' operation runner threads are stopped and joined while the fake
    Plane still answers: the tests share one database, and a runner thread outliving its test
    would otherwise claim the next test's operations with the old test's client.
    """
    apps: list[Flask] = []

    def factory(
        overrides: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Planning:
        app = make_app(overrides)
        apps.append(app)
        install_client_factory(app, http_options)
        client = app.test_client()
        plane_project = fake.add_project()
        path = make_repo(tmp_path / "checkout", ["initial commit"])
        env = Planning(app, client, fake, junction_clock, plane_project, path, http_options)
        h = headers or {}
        created = client.post("/api/projects", json={"name": PROJECT, "path": str(path)}, headers=h)
        assert created.status_code == 201, created.get_json()
        response = client.post(
            "/api/planning/config",
            json={
                "planning_api_url": fake.url,
                "planning_api_key": fake.api_key,
                "planning_workspace_slug": fake.workspace,
            },
            headers=h,
        )
        assert response.status_code == 200, response.get_json()
        response = client.post(
            "/api/planning/config",
            json={"project_name": PROJECT, "planning_project_id": plane_project},
            headers=h,
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
def planning(make_planning: Callable[..., Planning]) -> Planning:
    """A configured app: project ``demo`` linked to a fake Plane project."""
    return make_planning()
