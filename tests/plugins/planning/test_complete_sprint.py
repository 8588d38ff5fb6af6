"""POST /api/planning/complete-sprint: DoD, retrospective to Plane, changelog, tag, notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app import operations
from app.db import db
from plugins.planning.models import SprintCompletion
from tests.plugins.planning.conftest import Planning, git
from tests.support import wait_until

URL = "/api/planning/complete-sprint"


def prepare(
    planning: Planning, *, ended: bool = False, passing: bool = True
) -> tuple[str, list[str]]:
    """A sprint with two imported work items, a previous sprint tag and two new commits."""
    path = planning.project_path
    git(path, "commit", "-q", "--allow-empty", "-m", "chore: sprint 4 work")
    git(path, "tag", "-a", "sprint/sprint-4", "-m", "Sprint 4")
    git(path, "commit", "-q", "--allow-empty", "-m", "feat: add OAuth2 login")
    git(path, "commit", "-q", "--allow-empty", "-m", "fix: token refresh")
    cycle = planning.cycle("Sprint 5", days_from_start=-10 if ended else -2)
    items = [
        planning.item("Add OAuth2 login", cycle, group="completed"),
        planning.item("Fix token refresh", cycle, group="completed" if passing else "started"),
    ]
    planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    imported = planning.post(
        "/api/planning/import-cycle", {"cycle_id": cycle, "project_name": "demo"}
    )
    assert imported.get_json()["imported"] == 2
    return cycle, items


def comments(planning: Planning) -> list[dict[str, Any]]:
    return list(planning.fake.state.comments.values())


def tags(planning: Planning) -> list[str]:
    return git(planning.project_path, "tag", "--list", "sprint/*").split()


def test_completes_the_sprint_once(planning: Planning) -> None:
    cycle, items = prepare(planning)
    response = planning.post(URL, {"project_name": "demo"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    notes = planning.project_path / "releases" / "sprint-sprint-5.md"
    assert body["success"] is True
    assert (body["features_completed"], body["features_failed"]) == (2, 0)
    assert body["git_tag"] == "sprint/sprint-5"
    assert body["release_notes_path"] == str(notes)
    assert body["error"] is None and body["warnings"] == []
    assert body["cycle_id"] == cycle and body["cycle_name"] == "Sprint 5"
    # The changelog starts after the previous sprint's tag.
    log = body["change_log"].splitlines()
    assert [line.split(" ", 1)[1] for line in log] == [
        "fix: token refresh",
        "feat: add OAuth2 login",
    ]

    # Plane: one comment per work item (with an external id), the retrospective on the cycle.
    written = comments(planning)
    assert sorted(c["issue"] for c in written) == sorted(items)
    assert all(c["external_id"] == f"junction:sprint:{cycle}:{c['issue']}" for c in written)
    assert "Sprint Sprint 5 completed" in written[0]["comment_html"]
    description = planning.fake.state.cycles[cycle]["description"]
    assert "Sprint retrospective (Junction)" in description
    assert "feat: add OAuth2 login" in description
    # Git: an annotated tag; the release notes file.
    assert git(planning.project_path, "cat-file", "-t", "sprint/sprint-5").strip() == "tag"
    assert notes.read_text().startswith("# Sprint 5 Release Notes")
    assert "Add OAuth2 login" in notes.read_text()
    with planning.app.app_context():
        row = db.session.scalar(sa.select(SprintCompletion))
        assert row is not None
        assert (row.cycle_id, row.git_tag) == (cycle, "sprint/sprint-5")

    # Twice: the same answer, and nothing new anywhere.
    calls, mtime = len(planning.fake.calls), notes.stat().st_mtime_ns
    again = planning.post(URL, {"project_name": "demo", "cycle_id": cycle})
    assert again.status_code == 200 and again.get_json() == body
    assert len(comments(planning)) == 2
    assert tags(planning) == ["sprint/sprint-4", "sprint/sprint-5"]
    assert notes.stat().st_mtime_ns == mtime
    assert len(planning.fake.calls) == calls
    assert planning.get("/api/planning/release-notes?project_name=demo").get_json()["total"] == 1


def test_repeated_side_effects_are_harmless_without_the_record(planning: Planning) -> None:
    """A completion that crashed before recording its result is redone without duplicates."""
    prepare(planning)
    first = planning.post(URL, {"project_name": "demo"}).get_json()
    with planning.app.app_context():
        db.session.execute(sa.delete(SprintCompletion))
        db.session.commit()
    second = planning.post(URL, {"project_name": "demo"})
    assert second.status_code == 200
    assert second.get_json() == first
    assert len(comments(planning)) == 2  # Plane answered 409 with the existing comments
    assert tags(planning) == ["sprint/sprint-4", "sprint/sprint-5"]
    cycle = next(iter(planning.fake.state.cycles.values()))
    assert cycle["description"].count("Sprint retrospective (Junction)") == 1
    # Each comment was posted twice; the second time Plane refused the duplicate.
    assert [c.status for c in planning.fake.calls_to("POST", r"/comments/$")] == [
        201,
        201,
        409,
        409,
    ]


def test_definition_of_done_not_met_writes_nothing(planning: Planning) -> None:
    prepare(planning, passing=False)
    response = planning.post(URL, {"project_name": "demo"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is False
    assert (body["features_completed"], body["features_failed"]) == (1, 1)
    assert "Definition of Done" in body["error"]
    assert body["git_tag"] is None and body["release_notes_path"] is None
    assert comments(planning) == []
    assert tags(planning) == ["sprint/sprint-4"]
    assert not (planning.project_path / "releases").exists()
    with planning.app.app_context():
        # Checked before any operation is started: nothing to run, nothing to resume.
        assert operations.list_operations({}, 10, 0)["total"] == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SprintCompletion)) == 0


def test_ended_cycle_is_reported_as_a_warning(planning: Planning) -> None:
    cycle, _ = prepare(planning, ended=True)
    body = planning.post(URL, {"project_name": "demo"}).get_json()
    assert body["success"] is True
    assert len(body["warnings"]) == 1
    assert "Plane refuses edits to a cycle whose end date has passed" in body["warnings"][0]
    assert "Sprint retrospective" not in planning.fake.state.cycles[cycle]["description"]
    assert len(comments(planning)) == 2
    assert (planning.project_path / "releases" / "sprint-sprint-5.md").exists()


def test_beyond_the_wait_budget_answers_202_with_the_operation(planning: Planning) -> None:
    prepare(planning)
    response = planning.post(f"{URL}?wait=0", {"project_name": "demo"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status_url"] == f"/api/operations/{body['operation_id']}"
    assert response.headers["Location"] == body["status_url"]

    def finished() -> dict | None:
        op = planning.get(body["status_url"]).get_json()
        return op if op["status"] in ("succeeded", "failed") else None

    op = wait_until(finished, timeout=30, what="the completion operation")
    assert op["status"] == "succeeded", op
    assert op["kind"] == "planning.complete_sprint"
    assert op["result"]["git_tag"] == "sprint/sprint-5"
    assert op["progress"]["done"] == op["progress"]["total"]
    # Later calls answer the recorded result at once.
    assert planning.post(URL, {"project_name": "demo"}).get_json() == op["result"]


def test_errors(planning: Planning, tmp_path: Path) -> None:
    assert planning.post(URL, {"project_name": "demo"}).status_code == 400  # no active cycle
    assert planning.post(URL, {"project_name": "nope", "cycle_id": "c"}).status_code == 404
    assert planning.post(URL, {}).status_code == 400  # the seed's status for a missing field
    prepare(planning)
    not_git = tmp_path / "plain"
    not_git.mkdir()
    planning.client.patch("/api/projects/demo", json={"path": str(not_git)})
    response = planning.post(URL, {"project_name": "demo"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "NOT_A_GIT_REPOSITORY"


@pytest.mark.parametrize("status", [401, 404])
def test_plane_errors_fail_with_the_seeds_status(planning: Planning, status: int) -> None:
    cycle, _ = prepare(planning)
    if status == 401:
        planning.post("/api/planning/config", {"planning_api_key": "plane_api_" + "9" * 32})
        target = cycle
    else:
        target = "00000000-0000-4000-8000-00000000beef"
    response = planning.post(URL, {"project_name": "demo", "cycle_id": target})
    assert response.status_code == status, response.get_json()
    assert response.get_json()["operation_id"]
    assert tags(planning) == ["sprint/sprint-4"]


def test_idempotency_key_replays_the_answer(planning: Planning) -> None:
    prepare(planning)
    headers = {"Idempotency-Key": "complete-sprint-5"}
    first = planning.post(URL, {"project_name": "demo"}, headers=headers)
    second = planning.post(URL, {"project_name": "demo"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.get_json() == first.get_json()
