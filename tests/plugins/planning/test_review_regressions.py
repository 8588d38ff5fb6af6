"""Regressions found by the contract review of the planning plugin (seed, issue 4, plane-api.md).

* Ids that go into Plane URL paths must be Plane UUIDs: ``../../users/me`` reached another
  Plane endpoint and ``<cycle>/?x=1`` answered an "import" of nothing with 200. The seed's
  table: 400 for an invalid ``cycle_id``.
* Without a webhook secret, a delivery forwarded by a proxy on this host is not a loopback one.
* A ``releases`` folder that is a symbolic link out of the project serves nothing.
* The fake, like Plane, looks a comment's ``external_id`` up in the whole project.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from app import operations
from tests.fakes.marqed_tree import make_tree
from tests.plugins.planning.conftest import Planning, git

BAD_CYCLE_IDS = ["abc", "../../../../users/me", "{cycle}/?x=1", "{cycle}\n", "{cycle}/../"]


@pytest.mark.parametrize("template", BAD_CYCLE_IDS)
def test_import_of_an_invalid_cycle_id_is_400_without_calling_plane(
    planning: Planning, template: str
) -> None:
    cycle = planning.cycle("Sprint 4")
    planning.item("Item", cycle)
    response = planning.post(
        "/api/planning/import-cycle",
        {"cycle_id": template.format(cycle=cycle), "project_name": "demo"},
    )
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == "PLANNING_INVALID_ID"
    assert body["errors"][0]["field"] == "cycle_id"
    assert planning.fake.calls == []


def test_active_cycle_and_project_ids_must_be_uuids(planning: Planning) -> None:
    before = planning.get("/api/planning/config?project_name=demo").get_json()
    for field, value in [
        ("planning_active_cycle_id", "x/../y"),
        ("planning_project_id", f"{planning.plane_project}\n"),
        ("planning_workspace_slug", "mq-it\n"),
    ]:
        response = planning.post("/api/planning/config", {"project_name": "demo", field: value})
        assert response.status_code == 400, (field, response.get_json())
    assert planning.get("/api/planning/config?project_name=demo").get_json() == before
    cycle = str(uuid.uuid4())
    response = planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    assert response.get_json()["planning_active_cycle_id"] == cycle


def test_complete_sprint_and_marqed_import_refuse_an_invalid_cycle_id_first(
    planning: Planning, tmp_path: Path
) -> None:
    sprint = planning.post(
        "/api/planning/complete-sprint", {"project_name": "demo", "cycle_id": "x/y"}
    )
    assert sprint.status_code == 400 and sprint.get_json()["code"] == "PLANNING_INVALID_ID"
    tree = tmp_path / "marqed"
    make_tree(tree, epics=1, features=1, stories=1, tasks=1)
    marqed = planning.post(
        "/api/planning/marqed-import",
        {"marqed_dir": str(tree), "project_name": "demo", "cycle_id": "not-a-cycle"},
    )
    assert marqed.status_code == 400 and marqed.get_json()["code"] == "PLANNING_INVALID_ID"
    assert planning.fake.calls == [] and planning.fake.state.issues == {}


def test_sprint_skips_the_comment_of_a_feature_linked_to_a_non_plane_id(
    planning: Planning,
) -> None:
    git(planning.project_path, "commit", "-q", "--allow-empty", "-m", "feat: work")
    cycle = planning.cycle("Sprint 5")
    item = planning.item("Done item", cycle, group="completed")
    planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    planning.post("/api/planning/import-cycle", {"cycle_id": cycle, "project_name": "demo"})
    feature = planning.post(
        "/api/projects/demo/features",
        {"name": "Hand-linked", "planning_work_item_id": "../../users/me"},
    ).get_json()
    patched = planning.client.patch(
        f"/api/projects/demo/features/{feature['id']}", json={"passes": True}
    )
    assert patched.status_code == 200, patched.get_json()

    response = planning.post("/api/planning/complete-sprint", {"project_name": "demo"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True and body["features_completed"] == 2
    assert any("not a Plane work item id" in w for w in body["warnings"])
    assert [c["issue"] for c in planning.fake.state.comments.values()] == [item]
    assert not planning.fake.calls_to(pattern=r"/users/me")


def test_unsigned_webhook_forwarded_by_a_local_proxy_is_refused(planning: Planning) -> None:
    operations.runtime(planning.app).runner_threads = 0
    cycle = planning.cycle("Sprint 5")
    planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    body = json.dumps({"event": "cycle", "action": "updated", "data": {"id": cycle}})
    forwarded = planning.client.post(
        "/api/planning/webhooks",
        data=body,
        content_type="application/json",
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert forwarded.status_code == 403
    assert forwarded.get_json()["code"] == "WEBHOOK_SECRET_REQUIRED"
    direct = planning.client.post(
        "/api/planning/webhooks", data=body, content_type="application/json"
    )
    assert direct.status_code == 200 and direct.get_json()["action"] == "processed"


def test_releases_folder_linked_out_of_the_project_serves_nothing(
    planning: Planning, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.md").write_text("# Private\n")
    (planning.project_path / "releases").symlink_to(elsewhere, target_is_directory=True)
    listing = planning.get("/api/planning/release-notes?project_name=demo").get_json()
    assert listing["items"] == []
    content = planning.get(
        "/api/planning/release-notes/content?project_name=demo&filename=private.md"
    )
    assert content.status_code == 404
    assert "Private" not in content.get_data(as_text=True)


def test_releases_folder_linked_inside_the_project_still_works(planning: Planning) -> None:
    inside = planning.project_path / "docs" / "releases"
    inside.mkdir(parents=True)
    (inside / "sprint-sprint-1.md").write_text("# Sprint 1 Release Notes\n")
    (planning.project_path / "releases").symlink_to(inside, target_is_directory=True)
    content = planning.get(
        "/api/planning/release-notes/content?project_name=demo&filename=sprint-sprint-1.md"
    )
    assert content.status_code == 200
    assert content.get_json()["content"] == "# Sprint 1 Release Notes\n"


def test_fake_comment_external_ids_are_unique_per_project(planning: Planning) -> None:
    fake, project = planning.fake, planning.plane_project
    first, second = fake.add_issue(project, "one"), fake.add_issue(project, "two")
    base = f"{fake.url}/api/v1/workspaces/{fake.workspace}/projects/{project}/issues"
    body = {"comment_html": "<p>x</p>", "external_source": "junction", "external_id": "c-1"}
    headers = {"X-API-Key": fake.api_key}
    created = requests.post(f"{base}/{first}/comments/", json=body, headers=headers, timeout=5)
    assert created.status_code == 201
    again = requests.post(f"{base}/{second}/comments/", json=body, headers=headers, timeout=5)
    assert again.status_code == 409 and again.json()["id"] == created.json()["id"]
