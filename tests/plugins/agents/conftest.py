"""Fixtures of the agents tests: the plugin alone, operations run on demand, a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import operations as ops
from app.testing import FakeClock


@pytest.fixture
def junction_plugins() -> list[str]:
    """Only the agents plugin (and the core)."""
    return ["agents"]


@pytest.fixture
def clocked_app(junction_app: Flask, junction_clock: FakeClock) -> Flask:
    """The app with the operations runtime on the fake clock."""
    ops.runtime(junction_app).now = junction_clock.now
    return junction_app


@pytest.fixture
def drain(junction_app: Flask) -> Callable[[], int]:
    """Run every due operation now, in this thread; returns how many ran."""

    def run() -> int:
        with junction_app.app_context():
            return ops.run_pending()

    return run


def make_task(client: FlaskClient, **body: Any) -> dict[str, Any]:
    """POST a task (echo team, 2 steps, approval) and return it."""
    payload = {"name": "demo", "team": "echo", "config": {"steps": 2}, **body}
    response = client.post("/api/tasks/", json=payload)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def start_run(client: FlaskClient, task_id: int) -> dict[str, Any]:
    """POST a run of ``task_id`` and return it."""
    response = client.post("/api/runs/", json={"task_id": task_id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def channel_events(app: Flask, channel: str) -> list[dict[str, Any]]:
    """Every event of ``channel`` from the log, oldest first, as ``(type, data)`` dicts."""
    from app.events import read_after

    with app.app_context():
        items, _ = read_after([channel], 0, 10_000)
    return [{"type": e.type, "data": e.data, "id": e.id} for e in items]
