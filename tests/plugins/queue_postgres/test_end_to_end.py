"""The builds API and the reference worker, unchanged, on the PostgreSQL backend (the app's
own database, migrated by the plugin's Alembic branch); unavailable on SQLite."""

from __future__ import annotations

import os

import pytest

from app.testing import migration_drift
from tests.plugins.builds.backend_flow import api_and_worker_flow
from tests.plugins.builds.conftest import set_builds_settings

ON_POSTGRES = (os.environ.get("JUNCTION_TEST_DATABASE_URL") or "").startswith("postgres")


@pytest.fixture
def junction_plugins() -> list[str]:
    """builds and its PostgreSQL backend."""
    return ["builds", "queue_postgres"]


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="needs JUNCTION_TEST_DATABASE_URL (PostgreSQL)")
def test_api_and_worker_on_postgres(junction_app, junction_client, junction_runner, tmp_path):
    """Enqueue, list, stats, worker, clear, /readyz, /metrics and /config on PostgreSQL."""
    queue = api_and_worker_flow(
        junction_app, junction_client, junction_runner, tmp_path, "postgres"
    )
    details = queue["details"]
    assert details["table"] == "queue_postgres_items"
    assert "password" not in json_text(details)


def json_text(value: object) -> str:
    """``value`` as JSON text."""
    import json

    return json.dumps(value)


@pytest.mark.skipif(ON_POSTGRES, reason="the SQLite answer")
def test_selected_on_sqlite_is_503_with_the_reason(junction_app, junction_client):
    """On SQLite the backend is unavailable: 503 problems naming what to do, /readyz failing,
    and GET /config saying why."""
    set_builds_settings(junction_app, queue_backend="postgres")
    response = junction_client.get("/api/builds/queue/stats")
    assert response.status_code == 503
    assert "JUNCTION_DATABASE_URL=postgresql://" in response.get_json()["detail"]
    ready = junction_client.get("/readyz").get_json()
    assert "queue_postgres.table" in ready["failing"]
    details = junction_client.get("/api/builds/config").get_json()["queue"]["details"]
    assert details["available"] is False and "PostgreSQL" in details["reason"]


def test_models_match_the_migration(junction_app):
    """The plugin's model and its Alembic branch agree (on either database)."""
    assert migration_drift(junction_app, "queue_postgres_") == []
