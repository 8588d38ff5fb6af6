"""The project registry through HTTP: create, read, update, delete (with cascade)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import db
from app.domain.models import Feature, Project, TestRun


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def create(client: Any, name: str, path: Path | str, **extra: Any) -> Any:
    return client.post("/api/projects", json={"name": name, "path": str(path), **extra})


def test_create_and_read_a_project(client, project_dir: Path) -> None:
    response = create(client, "alpha_1", project_dir, description="The first one.")
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "alpha_1"
    assert body["path"] == str(project_dir)
    assert body["description"] == "The first one."
    created = dt.datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=1)
    assert client.get("/api/projects/alpha_1").get_json() == body


def test_description_defaults_to_empty(client, project_dir: Path) -> None:
    assert create(client, "p", project_dir).get_json()["description"] == ""


def test_a_taken_name_is_409(client, app: Flask, project_dir: Path) -> None:
    assert create(client, "dup", project_dir).status_code == 201
    response = create(client, "dup", project_dir)
    assert response.status_code == 409
    assert response.get_json()["code"] == "PROJECT_EXISTS"
    assert count(app, Project) == 1


@pytest.mark.parametrize(
    "name",
    ["has space", "-leading-dash", "_leading", "a/b", "ünïcode", "x" * 65, "", "dot.name"],
)
def test_names_must_be_url_safe(client, app: Flask, project_dir: Path, name: str) -> None:
    response = create(client, name, project_dir)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["name"]
    assert count(app, Project) == 0


def test_longest_name_is_accepted(client, project_dir: Path) -> None:
    name = "a" + "b-_9" * 15 + "xyz"
    assert len(name) == 64
    assert create(client, name, project_dir).status_code == 201
    assert client.get(f"/api/projects/{name}").status_code == 200


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("relative/dir", "invalid"),
        ("/definitely/not/here", "not_a_directory"),
        ("/" + "x" * 300, "not_a_directory"),  # a component too long for the filesystem
    ],
)
def test_the_path_must_be_an_existing_absolute_directory(
    client, app: Flask, path: str, code: str
) -> None:
    response = create(client, "p", path)
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "path", "message": response.get_json()["errors"][0]["message"], "code": code}
    ]
    assert count(app, Project) == 0


def test_a_file_is_not_a_project_directory(client, app: Flask, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert create(client, "p", a_file).status_code == 422
    assert count(app, Project) == 0


def test_patch_changes_description_and_path(client, project_dir: Path, tmp_path: Path) -> None:
    before = create(client, "p", project_dir).get_json()
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    response = client.patch("/api/projects/p", json={"description": "new", "path": str(elsewhere)})
    assert response.status_code == 200
    after = response.get_json()
    assert after["description"] == "new"
    assert after["path"] == str(elsewhere)
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] >= before["updated_at"]
    assert client.get("/api/projects/p").get_json() == after


def test_a_rejected_patch_changes_nothing(client, project_dir: Path) -> None:
    before = create(client, "p", project_dir, description="keep").get_json()
    bad_path = client.patch("/api/projects/p", json={"description": "lost", "path": "/no/such/dir"})
    assert bad_path.status_code == 422
    renamed = client.patch("/api/projects/p", json={"name": "q"})
    assert renamed.status_code == 422  # the name is the identity; it cannot be patched
    assert client.get("/api/projects/p").get_json() == before


def test_unknown_project_is_404_everywhere(client) -> None:
    for method, url in [
        ("get", "/api/projects/nope"),
        ("patch", "/api/projects/nope"),
        ("delete", "/api/projects/nope"),
        ("get", "/api/projects/nope/features"),
        ("get", "/api/projects/nope/test-runs"),
    ]:
        kwargs: dict[str, Any] = {"json": {}} if method == "patch" else {}
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code == 404, (method, url)
        assert response.get_json()["code"] == "NOT_FOUND"


def make_project_with_history(client: Any, project_dir: Path, name: str = "p") -> None:
    assert create(client, name, project_dir).status_code == 201
    for i in range(2):
        feature = client.post(f"/api/projects/{name}/features", json={"name": f"f{i}"})
        assert feature.status_code == 201
        run = client.post(
            f"/api/projects/{name}/features/{feature.get_json()['id']}/test-runs",
            json={"passed": True, "agent_type": "coding", "started_at": "2026-01-01T10:00:00Z"},
        )
        assert run.status_code == 201


def test_delete_an_empty_project(client, app: Flask, project_dir: Path) -> None:
    create(client, "p", project_dir)
    response = client.delete("/api/projects/p")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert client.get("/api/projects/p").status_code == 404
    assert count(app, Project) == 0


def test_deleting_a_project_with_features_needs_cascade(
    client, app: Flask, project_dir: Path
) -> None:
    make_project_with_history(client, project_dir, "p")
    make_project_with_history(client, project_dir, "other")

    refused = client.delete("/api/projects/p")
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["code"] == "PROJECT_NOT_EMPTY"
    assert "cascade=true" in body["detail"]
    # Nothing was removed half-way.
    assert (count(app, Project), count(app, Feature), count(app, TestRun)) == (2, 4, 4)

    also_refused = client.delete("/api/projects/p?cascade=false")
    assert also_refused.status_code == 409

    assert client.delete("/api/projects/p?cascade=true").status_code == 204
    assert client.get("/api/projects/p").status_code == 404
    # Its features and test runs went with it (in the database, not only in the ORM); the
    # other project's are untouched.
    assert (count(app, Project), count(app, Feature), count(app, TestRun)) == (1, 2, 2)
    assert client.get("/api/projects/other/features").get_json()["total"] == 2


def test_cascade_must_be_a_boolean(client, project_dir: Path) -> None:
    create(client, "p", project_dir)
    response = client.delete("/api/projects/p?cascade=perhaps")
    assert response.status_code == 422
    assert client.get("/api/projects/p").status_code == 200


def test_projects_are_listed_in_name_order(client, project_dir: Path) -> None:
    for name in ("charlie", "alpha", "bravo"):
        create(client, name, project_dir)
    names = [p["name"] for p in client.get("/api/projects").get_json()["items"]]
    assert names == ["alpha", "bravo", "charlie"]


def test_one_answer_lists_every_bad_field(client, app: Flask) -> None:
    response = client.post("/api/projects", json={"name": "", "path": "/definitely/not/here"})
    assert response.status_code == 422
    errors = {e["field"]: e["code"] for e in response.get_json()["errors"]}
    assert errors == {"name": "invalid", "path": "not_a_directory"}
    assert count(app, Project) == 0


def test_patch_reports_a_missing_directory_as_a_field_error(client, project_dir: Path) -> None:
    assert create(client, "p", project_dir).status_code == 201
    response = client.patch("/api/projects/p", json={"path": "/definitely/not/here"})
    assert response.status_code == 422
    assert [e["code"] for e in response.get_json()["errors"]] == ["not_a_directory"]
