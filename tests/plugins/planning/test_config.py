"""GET/POST /api/planning/config: global and per-project values, secrets never shown."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.plugins.planning.conftest import Planning


def test_global_config_masks_the_key_and_never_returns_it(
    planning: Planning, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = planning.fake.api_key
    body = planning.get("/api/planning/config").get_json()
    assert body["planning_api_url"] == planning.fake.url
    assert body["planning_api_key_set"] is True
    assert body["planning_api_key_masked"] == f"{key[:8]}****{key[-4:]}"
    assert body["planning_workspace_slug"] == "mq-it"
    assert body["planning_sync_enabled"] is False
    assert body["planning_poll_interval"] == 30
    assert body["planning_active_cycle_id"] is None
    assert body["planning_webhook_secret_set"] is False
    assert body["planning_project_id"] == ""  # set for the project only
    assert "planning_api_key" not in body

    secret = "whsec_" + uuid.uuid4().hex
    after = planning.post("/api/planning/config", {"planning_webhook_secret": secret})
    assert after.status_code == 200
    assert after.get_json()["planning_webhook_secret_set"] is True
    # Calls that use the key: it goes to Plane, but into no response and no log line.
    planning.post("/api/planning/test-connection?project_name=demo")
    planning.get("/api/planning/cycles?project_name=demo")
    responses = [
        planning.get("/api/planning/config").get_data(as_text=True),
        planning.get("/api/planning/config?project_name=demo").get_data(as_text=True),
        after.get_data(as_text=True),
    ]
    # The capture sees the plugin's and the HTTP client's log lines (so the check below bites).
    assert "settings planning updated for global scope: webhook_secret" in caplog.text
    assert "/cycles/" in caplog.text
    for text in [*responses, caplog.text]:
        assert key not in text
        assert secret not in text


def test_per_project_values_fall_back_to_the_global_ones(planning: Planning) -> None:
    other, cycle = str(uuid.uuid4()), str(uuid.uuid4())
    response = planning.post(
        "/api/planning/config",
        {"planning_project_id": other, "planning_poll_interval": 60},
    )
    assert response.status_code == 200
    project = planning.get("/api/planning/config?project_name=demo").get_json()
    assert project["project_name"] == "demo"
    assert project["planning_project_id"] == planning.plane_project  # its own value
    assert project["planning_poll_interval"] == 60  # the global one
    assert project["planning_api_key_set"] is True  # shared settings are global

    planning.post(
        "/api/planning/config",
        {"project_name": "demo", "planning_poll_interval": 15, "planning_active_cycle_id": cycle},
    )
    project = planning.get("/api/planning/config?project_name=demo").get_json()
    assert (project["planning_poll_interval"], project["planning_active_cycle_id"]) == (15, cycle)
    glob = planning.get("/api/planning/config").get_json()
    assert (glob["planning_poll_interval"], glob["planning_active_cycle_id"]) == (60, None)
    assert glob["planning_project_id"] == other


def test_shared_settings_sent_with_a_project_are_stored_globally(planning: Planning) -> None:
    planning.post(
        "/api/planning/config",
        {"project_name": "demo", "planning_workspace_slug": "other-ws"},
    )
    assert planning.get("/api/planning/config").get_json()["planning_workspace_slug"] == "other-ws"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"planning_api_url": "ftp://plane"}, "planning_api_url"),
        ({"planning_project_id": "not-a-uuid"}, "planning_project_id"),
        ({"planning_poll_interval": 1}, "planning_poll_interval"),
        ({"planning_unknown": 1}, "planning_unknown"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_written(
    planning: Planning, body: dict, field: str
) -> None:
    before = planning.get("/api/planning/config").get_json()
    response = planning.post("/api/planning/config", body)
    assert response.status_code == 400  # the seed's status for an invalid request
    assert response.mimetype == "application/problem+json"
    assert field in response.get_data(as_text=True)
    assert planning.get("/api/planning/config").get_json() == before


def test_unknown_project_is_404(planning: Planning) -> None:
    assert planning.get("/api/planning/config?project_name=nope").status_code == 404
    response = planning.post("/api/planning/config", {"project_name": "nope"})
    assert response.status_code == 404


def test_missing_key_is_401_and_missing_settings_400(planning: Planning) -> None:
    planning.post("/api/planning/config", {"planning_api_key": None})
    response = planning.get("/api/planning/cycles?project_name=demo")
    assert response.status_code == 401
    assert "planning_api_key" in response.get_json()["detail"]

    planning.post("/api/planning/config", {"planning_api_key": planning.fake.api_key})
    response = planning.get("/api/planning/cycles")  # the global scope has no project id
    assert response.status_code == 400
    assert "planning_project_id" in response.get_json()["detail"]
