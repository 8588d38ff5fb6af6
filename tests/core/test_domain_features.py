"""Features through HTTP: create, filters, pagination, dependencies, planning links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import db
from app.domain.models import Feature

BASE = "/api/projects/p/features"


def feature_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Feature)) or 0


@pytest.fixture
def project(client, project_dir: Path) -> str:
    response = client.post("/api/projects", json={"name": "p", "path": str(project_dir)})
    assert response.status_code == 201
    return "p"


def add(client: Any, **fields: Any) -> dict[str, Any]:
    response = client.post(BASE, json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


def test_create_with_defaults(client, project: str) -> None:
    body = add(client, name="Login page")
    assert body["project"] == "p"
    assert body["priority"] == 999
    assert body["passes"] is False and body["in_progress"] is False
    assert body["steps"] == [] and body["dependencies"] == [] and body["acceptance_criteria"] == []
    assert body["planning_work_item_id"] is None
    assert client.get(f"{BASE}/{body['id']}").get_json() == body


def test_create_with_every_field(client, project: str) -> None:
    first = add(client, name="base")
    body = add(
        client,
        name="full",
        description="All of it.",
        priority=3,
        category="auth",
        steps=["open", "click"],
        dependencies=[first["id"]],
        acceptance_criteria=["it works"],
        passes=True,
        in_progress=True,
        planning_work_item_id="WI-1",
        planning_synced_at="2026-03-01T12:00:00+02:00",
        planning_updated_at="2026-03-01T09:00:00",  # naive: taken as UTC
    )
    assert body["steps"] == ["open", "click"]
    assert body["dependencies"] == [first["id"]]
    assert body["planning_synced_at"].startswith("2026-03-01T10:00:00")  # stored in UTC
    assert body["planning_synced_at"].endswith("+00:00")
    assert body["planning_updated_at"].startswith("2026-03-01T09:00:00")


def test_list_orders_by_priority_then_id(client, project: str) -> None:
    add(client, name="late", priority=10)
    add(client, name="early", priority=1)
    add(client, name="also-late", priority=10)
    assert names(client.get(BASE).get_json()) == ["early", "late", "also-late"]


def test_filters(client, project: str) -> None:
    add(client, name="done", passes=True, category="ui")
    add(client, name="doing", in_progress=True, category="api")
    add(client, name="linked", category="ui", planning_work_item_id="WI-7")
    add(client, name="todo")

    def listed(query: str) -> list[str]:
        response = client.get(f"{BASE}?{query}")
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert page["total"] == len(page["items"])
        return sorted(names(page))

    assert listed("passes=true") == ["done"]
    assert listed("passes=false") == ["doing", "linked", "todo"]
    assert listed("in_progress=true") == ["doing"]
    assert listed("category=ui") == ["done", "linked"]
    assert listed("linked=true") == ["linked"]
    assert listed("linked=false") == ["doing", "done", "todo"]
    assert listed("category=ui&passes=false") == ["linked"]
    assert listed("category=none") == []


def test_filter_values_are_validated(client, project: str) -> None:
    for query in ("passes=sometimes", "linked=2", "category=" + "x" * 101):
        assert client.get(f"{BASE}?{query}").status_code == 422, query


def test_pagination_of_features(client, project: str) -> None:
    for i in range(5):
        add(client, name=f"f{i}", priority=i)
    page = client.get(f"{BASE}?limit=2&offset=2").get_json()
    assert names(page) == ["f2", "f3"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)


def test_features_belong_to_their_project(client, project: str, project_dir: Path) -> None:
    client.post("/api/projects", json={"name": "q", "path": str(project_dir)})
    other = client.post("/api/projects/q/features", json={"name": "theirs"}).get_json()
    assert client.get(f"{BASE}/{other['id']}").status_code == 404
    assert client.patch(f"{BASE}/{other['id']}", json={"passes": True}).status_code == 404
    assert client.delete(f"{BASE}/{other['id']}").status_code == 404
    assert client.get(BASE).get_json()["total"] == 0
    assert client.get(f"/api/projects/q/features/{other['id']}").get_json()["passes"] is False


def test_patch_updates_only_given_fields(client, project: str) -> None:
    created = add(client, name="f", category="ui", steps=["a"])
    response = client.patch(f"{BASE}/{created['id']}", json={"passes": True, "priority": 2})
    assert response.status_code == 200
    body = response.get_json()
    assert body["passes"] is True and body["priority"] == 2
    assert body["category"] == "ui" and body["steps"] == ["a"] and body["name"] == "f"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"name"}),
        ({"name": ""}, {"name"}),
        ({"name": "x" * 256}, {"name"}),
        ({"name": "f", "priority": -1}, {"priority"}),
        ({"name": "f", "priority": 10**30}, {"priority"}),
        ({"name": "f", "steps": "not a list"}, {"steps"}),
        ({"name": "f", "steps": [1, 2]}, {"steps.0", "steps.1"}),
        ({"name": "f", "dependencies": [0]}, {"dependencies.0"}),
        ({"name": "f", "dependencies": [2**40]}, {"dependencies.0"}),
        ({"name": "f", "passes": "yes please"}, {"passes"}),
        ({"name": "f", "planning_work_item_id": ""}, {"planning_work_item_id"}),
        ({"name": "f", "planning_synced_at": "yesterday"}, {"planning_synced_at"}),
        ({"name": "f", "planning_synced_at": "0001-01-01T00:00:00+01:00"}, {"planning_synced_at"}),
        ({"name": "f", "project_id": 5}, {"project_id"}),
        ({"name": "f", "id": 5}, {"id"}),
    ],
)
def test_invalid_features_are_422_and_leave_no_row(
    client, app: Flask, project: str, payload: dict[str, Any], fields: set[str]
) -> None:
    response = client.post(BASE, json=payload)
    assert response.status_code == 422, response.get_json()
    assert {e["field"] for e in response.get_json()["errors"]} == fields
    assert feature_count(app) == 0


def test_unknown_dependencies_are_422_and_leave_no_row(client, app: Flask, project: str) -> None:
    real = add(client, name="real")
    response = client.post(BASE, json={"name": "f", "dependencies": [real["id"], 99999, 88888]})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [e["code"] for e in errors] == ["unknown_id", "unknown_id"]
    assert feature_count(app) == 1


def test_dependencies_are_deduplicated_and_not_self(client, project: str) -> None:
    a = add(client, name="a")
    b = add(client, name="b", dependencies=[a["id"], a["id"]])
    assert b["dependencies"] == [a["id"]]
    response = client.patch(f"{BASE}/{b['id']}", json={"dependencies": [b["id"]]})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["code"] == "self_reference"
    assert client.get(f"{BASE}/{b['id']}").get_json()["dependencies"] == [a["id"]]


def test_dependencies_on_another_projects_feature_are_refused(
    client, project: str, project_dir: Path
) -> None:
    client.post("/api/projects", json={"name": "q", "path": str(project_dir)})
    theirs = client.post("/api/projects/q/features", json={"name": "theirs"}).get_json()
    response = client.post(BASE, json={"name": "f", "dependencies": [theirs["id"]]})
    assert response.status_code == 422


def test_deleting_a_feature_removes_it_from_dependencies(client, app: Flask, project: str) -> None:
    a = add(client, name="a")
    keep = add(client, name="keep")
    b = add(client, name="b", dependencies=[a["id"], keep["id"]])
    assert client.delete(f"{BASE}/{a['id']}").status_code == 204
    assert client.get(f"{BASE}/{a['id']}").status_code == 404
    assert client.get(f"{BASE}/{b['id']}").get_json()["dependencies"] == [keep["id"]]
    assert feature_count(app) == 2


def test_a_planning_work_item_links_to_one_feature_only(
    client, app: Flask, project: str, project_dir: Path
) -> None:
    first = add(client, name="first", planning_work_item_id="WI-1")
    duplicate = client.post(BASE, json={"name": "second", "planning_work_item_id": "WI-1"})
    assert duplicate.status_code == 409
    assert duplicate.get_json()["code"] == "WORK_ITEM_LINKED"
    assert feature_count(app) == 1

    # Across projects too: a work item belongs to one feature in the whole registry.
    client.post("/api/projects", json={"name": "q", "path": str(project_dir)})
    across = client.post(
        "/api/projects/q/features", json={"name": "x", "planning_work_item_id": "WI-1"}
    )
    assert across.status_code == 409

    second = add(client, name="second")
    moved = client.patch(f"{BASE}/{second['id']}", json={"planning_work_item_id": "WI-1"})
    assert moved.status_code == 409
    assert client.get(f"{BASE}/{second['id']}").get_json()["planning_work_item_id"] is None

    # Re-saving the same link on the same feature is not a conflict; unlinking frees it.
    same = client.patch(f"{BASE}/{first['id']}", json={"planning_work_item_id": "WI-1"})
    assert same.status_code == 200
    unlinked = client.patch(f"{BASE}/{first['id']}", json={"planning_work_item_id": None})
    assert unlinked.get_json()["planning_work_item_id"] is None
    relinked = client.patch(f"{BASE}/{second['id']}", json={"planning_work_item_id": "WI-1"})
    assert relinked.status_code == 200


def test_a_lost_uniqueness_race_is_409_not_500(
    client, app: Flask, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.domain import service

    add(client, name="first", planning_work_item_id="WI-9")
    # Simulate a concurrent request that linked the item after our pre-check had passed.
    monkeypatch.setattr(service, "_check_work_item_unique", lambda *args: None)
    response = client.post(BASE, json={"name": "racer", "planning_work_item_id": "WI-9"})
    assert response.status_code == 409
    assert feature_count(app) == 1
    assert client.get(BASE).status_code == 200  # the session was rolled back and is usable


def test_unknown_feature_and_huge_ids_are_404(client, project: str) -> None:
    for feature_id in ("424242", "2147483647", "2147483648", "9" * 40):
        assert client.get(f"{BASE}/{feature_id}").status_code == 404
        assert client.patch(f"{BASE}/{feature_id}", json={}).status_code == 404
        assert client.delete(f"{BASE}/{feature_id}").status_code == 404
