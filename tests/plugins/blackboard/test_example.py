"""The example of docs/blackboard.md: one sync call turns a feature request into a plan and a
review, through a Python agent and a real HTTP agent."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.plugins.blackboard.conftest import quiesce

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "blackboard_demo"
SECRET = "example-secret-0123456789"


@pytest.fixture
def demo_app(junction_make_app: Any) -> Iterator[Flask]:
    sys.path.insert(0, str(EXAMPLE))
    try:
        import blackboard_demo

        app = junction_make_app(
            plugins=["blackboard", "blackboard_demo"],
            extra_plugins=[("blackboard_demo", blackboard_demo)],
        )
        yield app
        quiesce(app)
    finally:
        sys.path.remove(str(EXAMPLE))


def test_one_sync_call_runs_the_example(demo_app: Flask) -> None:
    from blackboard_demo.reviewer import serve_in_thread

    server, url = serve_in_thread(SECRET)
    try:
        client = demo_app.test_client()
        registered = client.post(
            "/api/v1/agents",
            json={
                "name": "reviewer",
                "url": url,
                "secret": SECRET,
                "subscriptions": [{"types": ["plan"]}],
            },
        )
        assert registered.status_code == 201, registered.get_json()
        response = client.post(
            "/api/v1/artifacts/sync",
            json={"type": "feature_request", "payload": {"title": "dark mode"}},
        )
        body = response.get_json()
        assert response.status_code == 200 and body["completed"] is True
        by_type = {a["type"]: a for a in body["artifacts"]}
        assert list(by_type) == ["feature_request", "plan", "review"]
        assert by_type["plan"]["produced_by"] == "planner"
        assert by_type["plan"]["payload"]["steps"][-1] == "test it"
        assert by_type["review"]["produced_by"] == "reviewer"
        assert by_type["review"]["payload"] == {"approved": True, "comments": []}
    finally:
        server.shutdown()
        server.server_close()
