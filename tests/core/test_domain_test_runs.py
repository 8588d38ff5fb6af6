"""Test runs through HTTP: per feature and project-wide, with filters and pagination."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import db
from app.domain.models import TestRun


def run_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(TestRun)) or 0


@pytest.fixture
def features(client, project_dir: Path) -> list[int]:
    assert (
        client.post("/api/projects", json={"name": "p", "path": str(project_dir)}).status_code
        == 201
    )
    ids = []
    for name in ("one", "two"):
        response = client.post("/api/projects/p/features", json={"name": name})
        ids.append(response.get_json()["id"])
    return ids


def record(client: Any, feature_id: int, **fields: Any) -> dict[str, Any]:
    payload = {"passed": True, "agent_type": "coding", "started_at": "2026-01-01T10:00:00Z"}
    payload.update(fields)
    response = client.post(f"/api/projects/p/features/{feature_id}/test-runs", json=payload)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_record_a_run(client, features: list[int]) -> None:
    body = record(
        client,
        features[0],
        passed=False,
        agent_type="testing",
        started_at="2026-01-01T10:00:00+01:00",
        completed_at="2026-01-01T09:30:00Z",
        return_code=1,
    )
    assert body["feature_id"] == features[0]
    assert body["passed"] is False
    assert body["agent_type"] == "testing"
    assert body["started_at"].startswith("2026-01-01T09:00:00")  # converted to UTC
    assert body["completed_at"].startswith("2026-01-01T09:30:00")
    assert body["return_code"] == 1


def test_optional_fields_default_to_null(client, features: list[int]) -> None:
    body = record(client, features[0])
    assert body["completed_at"] is None and body["return_code"] is None


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"passed", "agent_type"}),  # started_at defaults to now
        (
            {"passed": True, "agent_type": "robot", "started_at": "2026-01-01T10:00:00Z"},
            {"agent_type"},
        ),
        (
            {
                "passed": True,
                "agent_type": "coding",
                "started_at": "2026-01-01T10:00:00Z",
                "completed_at": "2026-01-01T09:59:59Z",
            },
            {"completed_at"},
        ),
        (
            {
                "passed": True,
                "agent_type": "coding",
                "started_at": "2026-01-01T10:00:00Z",
                "return_code": 1000,
            },
            {"return_code"},
        ),
        (
            {"passed": True, "agent_type": "coding", "started_at": "9999-12-31T23:59:59-05:00"},
            {"started_at"},
        ),
    ],
)
def test_invalid_runs_are_422_and_leave_no_row(
    client, app: Flask, features: list[int], payload: dict[str, Any], fields: set[str]
) -> None:
    response = client.post(f"/api/projects/p/features/{features[0]}/test-runs", json=payload)
    assert response.status_code == 422, response.get_json()
    assert {e["field"] for e in response.get_json()["errors"]} == fields
    assert run_count(app) == 0


def test_a_run_for_an_unknown_feature_is_404_and_leaves_no_row(
    client, app: Flask, features: list[int]
) -> None:
    payload = {"passed": True, "agent_type": "coding", "started_at": "2026-01-01T10:00:00Z"}
    for url in (
        "/api/projects/p/features/999999/test-runs",
        "/api/projects/nope/features/1/test-runs",
    ):
        assert client.post(url, json=payload).status_code == 404
    assert run_count(app) == 0


def test_lists_are_newest_first_per_feature_and_project_wide(client, features: list[int]) -> None:
    one, two = features
    old = record(client, one, started_at="2026-01-01T08:00:00Z")
    new = record(client, one, started_at="2026-01-02T08:00:00Z")
    other = record(client, two, started_at="2026-01-01T12:00:00Z")

    per_feature = client.get(f"/api/projects/p/features/{one}/test-runs").get_json()
    assert [r["id"] for r in per_feature["items"]] == [new["id"], old["id"]]
    assert per_feature["total"] == 2

    project_wide = client.get("/api/projects/p/test-runs").get_json()
    assert [r["id"] for r in project_wide["items"]] == [new["id"], other["id"], old["id"]]


def test_filters_and_pagination(client, features: list[int]) -> None:
    one, two = features
    record(client, one, passed=True, agent_type="coding", started_at="2026-01-01T01:00:00Z")
    record(client, one, passed=False, agent_type="testing", started_at="2026-01-01T02:00:00Z")
    record(client, two, passed=False, agent_type="coding", started_at="2026-01-01T03:00:00Z")
    record(client, two, passed=True, agent_type="testing", started_at="2026-01-01T04:00:00Z")

    def listed(url: str) -> list[tuple[int, bool, str]]:
        response = client.get(url)
        assert response.status_code == 200, response.get_json()
        return [
            (r["feature_id"], r["passed"], r["agent_type"]) for r in response.get_json()["items"]
        ]

    assert listed("/api/projects/p/test-runs?passed=false") == [
        (two, False, "coding"),
        (one, False, "testing"),
    ]
    assert listed("/api/projects/p/test-runs?agent_type=testing") == [
        (two, True, "testing"),
        (one, False, "testing"),
    ]
    assert listed(f"/api/projects/p/test-runs?feature_id={one}&passed=true") == [
        (one, True, "coding")
    ]
    assert listed(f"/api/projects/p/features/{two}/test-runs?agent_type=coding") == [
        (two, False, "coding")
    ]
    page = client.get("/api/projects/p/test-runs?limit=1&offset=1").get_json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (4, 1, 1, 1)
    assert page["items"][0]["started_at"].startswith("2026-01-01T03:00:00")


def test_filters_are_validated(client, features: list[int]) -> None:
    for query in ("agent_type=robot", "passed=maybe", "feature_id=0", "feature_id=99999999999"):
        assert client.get(f"/api/projects/p/test-runs?{query}").status_code == 422, query


def test_runs_of_another_project_are_not_listed(
    client, features: list[int], project_dir: Path
) -> None:
    client.post("/api/projects", json={"name": "q", "path": str(project_dir)})
    theirs = client.post("/api/projects/q/features", json={"name": "theirs"}).get_json()["id"]
    client.post(
        f"/api/projects/q/features/{theirs}/test-runs",
        json={"passed": True, "agent_type": "coding", "started_at": "2026-01-01T10:00:00Z"},
    )
    record(client, features[0])
    assert client.get("/api/projects/p/test-runs").get_json()["total"] == 1
    # Asking for their feature through our project finds nothing.
    assert client.get(f"/api/projects/p/test-runs?feature_id={theirs}").get_json()["total"] == 0
    assert client.get(f"/api/projects/p/features/{theirs}/test-runs").status_code == 404


def test_deleting_a_feature_deletes_its_runs(client, app: Flask, features: list[int]) -> None:
    one, two = features
    record(client, one)
    record(client, one)
    record(client, two)
    assert client.delete(f"/api/projects/p/features/{one}").status_code == 204
    assert run_count(app) == 1
    assert client.get("/api/projects/p/test-runs").get_json()["total"] == 1


def test_started_at_defaults_to_now(client, features: list[int]) -> None:
    before = dt.datetime.now(dt.UTC)
    response = client.post(
        f"/api/projects/p/features/{features[0]}/test-runs",
        json={"passed": True, "agent_type": "coding"},
    )
    after = dt.datetime.now(dt.UTC)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    started = dt.datetime.fromisoformat(body["started_at"])
    assert started.utcoffset() == dt.timedelta(0)
    # The stored precision may drop sub-second digits, so allow one second before the request.
    assert before - dt.timedelta(seconds=1) <= started <= after
    assert body["completed_at"] is None


def test_openapi_says_started_at_is_optional(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    schema = spec["components"]["schemas"]["TestRunCreate"]
    assert "started_at" in schema["properties"]
    assert "started_at" not in schema.get("required", [])
    assert set(schema["required"]) == {"passed", "agent_type"}
