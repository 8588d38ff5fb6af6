"""Release notes (listing, safe reading) and self-host setup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.errors import BadRequest
from plugins.planning import release_notes
from tests.plugins.planning.conftest import Planning
from tests.support import ROOT

CONTENT = "/api/planning/release-notes/content?project_name=demo&filename="


@pytest.fixture
def notes(planning: Planning, tmp_path: Path) -> Planning:
    releases = planning.project_path / "releases"
    releases.mkdir()
    (releases / "sprint-sprint-4.md").write_text("# Sprint 4 Release Notes\n\nOld.\n")
    (releases / "sprint-sprint-5.md").write_text("# Sprint 5 Release Notes\n\nNew.\n")
    os.utime(releases / "sprint-sprint-4.md", (1_700_000_000, 1_700_000_000))
    (releases / "notes.txt").write_text("not markdown")
    (releases / "folder.md").mkdir()
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n")
    (releases / "escape.md").symlink_to(secret)
    (releases / "inside.md").symlink_to(releases / "sprint-sprint-5.md")
    (planning.project_path / "outside.md").write_text("# Outside\n")
    return planning


def test_list_shows_only_regular_md_files_inside(notes: Planning) -> None:
    body = notes.get("/api/planning/release-notes?project_name=demo").get_json()
    names = [item["filename"] for item in body["items"]]
    assert set(names) == {"sprint-sprint-5.md", "sprint-sprint-4.md", "inside.md"}
    assert names[-1] == "sprint-sprint-4.md"  # newest first
    five = next(i for i in body["items"] if i["filename"] == "sprint-sprint-5.md")
    assert five["cycle_name"] == "Sprint 5"
    assert five["size_bytes"] == len("# Sprint 5 Release Notes\n\nNew.\n")
    assert five["created_at"]
    assert body["total"] == 3


def test_content(notes: Planning) -> None:
    response = notes.get(CONTENT + "sprint-sprint-5.md")
    assert response.status_code == 200
    assert response.get_json() == {
        "filename": "sprint-sprint-5.md",
        "content": "# Sprint 5 Release Notes\n\nNew.\n",
    }


@pytest.mark.parametrize(
    ("filename", "status"),
    [
        ("../outside.md", 400),
        ("..%2Foutside.md", 400),  # an encoded separator, decoded once by the server
        ("..%252Foutside.md", 400),  # double-encoded: arrives as "%2F"
        ("%2Fetc%2Fpasswd", 400),  # absolute
        ("..", 400),
        ("sub%5Cfile.md", 400),  # backslash
        ("notes.txt", 400),  # not markdown
        ("escape.md", 404),  # a symlink leading outside
        ("folder.md", 404),  # not a regular file
        ("missing.md", 404),
    ],
)
def test_unsafe_names_are_refused(notes: Planning, filename: str, status: int) -> None:
    response = notes.get(CONTENT + filename)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert "Secret" not in response.get_data(as_text=True)


def test_nul_bytes_are_refused(notes: Planning) -> None:
    # The core refuses NUL anywhere in a query string (with planning's validation status, the
    # seed's 400) before the route runs ...
    response = notes.get(CONTENT + "sprint-sprint-5.md%00.txt")
    assert response.status_code == 400
    # ... and the plugin's own check refuses it too (for callers other than HTTP).
    with pytest.raises(BadRequest):
        release_notes.read_notes(str(notes.project_path), "sprint-sprint-5.md\x00")


def test_no_releases_folder(planning: Planning) -> None:
    body = planning.get("/api/planning/release-notes?project_name=demo").get_json()
    assert body["items"] == [] and body["total"] == 0
    assert planning.get(CONTENT + "x.md").status_code == 404
    assert planning.get("/api/planning/release-notes?project_name=nope").status_code == 404


def test_self_host_setup_is_idempotent(planning: Planning) -> None:
    first = planning.post("/api/planning/self-host-setup")
    assert first.status_code == 200
    assert first.get_json() == {
        "project_name": "junction",
        "project_path": str(ROOT),
        "already_registered": False,
    }
    assert planning.get("/api/projects/junction").get_json()["path"] == str(ROOT)
    second = planning.post("/api/planning/self-host-setup").get_json()
    assert second == {**first.get_json(), "already_registered": True}
