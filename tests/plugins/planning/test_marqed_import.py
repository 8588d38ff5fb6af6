"""POST /api/planning/marqed-import: validation first, then a durable, resumable import."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import db
from app.events import Event
from plugins.planning.marqed_import import marqed_import_operation
from tests.core.security_http import call, serving
from tests.fakes.marqed_tree import make_tree
from tests.plugins.planning.conftest import Planning
from tests.support import wait_until

URL = "/api/planning/marqed-import"
COUNTS = {"epics": 2, "features": 3, "stories": 4, "tasks": 5}
TOTAL = sum(COUNTS.values())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "marqed"
    make_tree(root, **COUNTS)
    return root


def run(planning: Planning, tree: Path, **extra: Any) -> Any:
    return planning.post(URL, {"marqed_dir": str(tree), "project_name": "demo", **extra})


def test_import_creates_modules_items_and_sub_items(planning: Planning, tree: Path) -> None:
    fake = planning.fake
    cycle = planning.cycle("Sprint 5")
    response = run(planning, tree, cycle_id=cycle)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("total_entities", "created", "errors", "existing")} == {
        "total_entities": TOTAL,
        "created": TOTAL,
        "errors": 0,
        "existing": 0,
    }
    assert (body["modules_created"], body["work_items_created"]) == (2, TOTAL - 2)
    assert (body["cycle_id"], body["cycle_linked"], body["cycle_error"]) == (cycle, TOTAL - 2, None)
    by_ident = {e["identifier"]: e for e in body["entities"]}
    assert by_ident["EPIC-001"] == {
        "identifier": "EPIC-001",
        "name": "Epic 1",
        "entity_type": "epic",
        "planning_type": "module",
        "planning_id": by_ident["EPIC-001"]["planning_id"],
        "action": "created",
        "error": "",
    }
    # In Plane: modules, work items with parents, module links, the cycle.
    assert len(fake.state.modules) == 2 and len(fake.state.issues) == TOTAL - 2
    issues = fake.state.issues
    feature1 = issues[by_ident["FEATURE-001"]["planning_id"]]
    story1 = issues[by_ident["STORY-001"]["planning_id"]]
    task1 = issues[by_ident["TASK-001"]["planning_id"]]
    assert feature1["parent"] is None
    assert story1["parent"] == feature1["id"]
    assert task1["parent"] == story1["id"]
    assert feature1["external_source"] == "junction"
    assert feature1["external_id"] == "marqed:demo-project:FEATURE-001"
    assert feature1["priority"] == "medium"  # make_tree: priorities[1 % 4]
    assert fake.state.states[feature1["state"]]["group"] == "unstarted"  # **Status:** planned
    assert "<h3>Acceptance Criteria</h3>" in feature1["description_html"]
    epic1 = by_ident["EPIC-001"]["planning_id"]
    # EPIC-001 holds features 1 and 3 with their stories and tasks.
    members = set(fake.state.module_issues[epic1])
    assert {feature1["id"], story1["id"], task1["id"]} <= members
    assert by_ident["FEATURE-002"]["planning_id"] not in members
    assert len(fake.state.cycle_issues[cycle]) == TOTAL - 2
    # Calls: the state list once, one create per entity, one link per module, one cycle add.
    assert len(fake.calls_to("GET", r"/states/$")) == 1
    assert len(fake.calls) == 1 + TOTAL + 2 + 1

    # A re-run creates nothing: Plane answers 409 with the existing ids.
    again = run(planning, tree, cycle_id=cycle).get_json()
    assert (again["created"], again["existing"], again["errors"]) == (0, TOTAL, 0)
    assert [e["planning_id"] for e in again["entities"]] == [
        e["planning_id"] for e in body["entities"]
    ]
    assert set(fake.objects_by_external_id().values()) == {1}
    assert len(fake.objects_by_external_id()) == TOTAL


def test_malformed_tree_is_422_listing_every_problem(planning: Planning, tree: Path) -> None:
    feature = next(tree.glob("epics/*/features/FEATURE-001-*/feature.md"))
    feature.write_text("no heading here\n")
    task = next(tree.glob("epics/*/features/*/stories/*/tasks/TASK-002.md"))
    task.write_text("# TASK-002 | Task\n\n**Priority:** whenever\n")
    (tree / "epics" / "notes").mkdir()
    response = run(planning, tree)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "MARQED_INVALID"
    problems = {e["field"]: e["message"] for e in body["errors"]}
    assert problems[str(feature.relative_to(tree))] == "the first line must be '# IDENT | Name'"
    assert "unknown priority" in problems[str(task.relative_to(tree))]
    assert "EPIC-NNN" in problems["epics/notes"]
    assert planning.fake.calls == []  # nothing was created


def test_paths_must_be_absolute_directories(planning: Planning, tmp_path: Path) -> None:
    assert planning.post(URL, {"marqed_dir": "relative/dir"}).status_code == 400
    missing = planning.post(URL, {"marqed_dir": str(tmp_path / "missing")})
    assert missing.status_code == 400
    assert missing.get_json()["errors"][0]["message"] == "not a directory"


def test_ended_cycle_is_a_clear_error_in_the_summary(planning: Planning, tree: Path) -> None:
    ended = planning.cycle("Sprint 3", days_from_start=-20)
    body = run(planning, tree, cycle_id=ended).get_json()
    assert body["created"] == TOTAL  # the objects exist; only the cycle refused them
    assert body["errors"] == 1
    assert body["cycle_linked"] == 0
    assert body["cycle_error"].startswith("CYCLE_COMPLETED")
    assert "ended" in body["cycle_error"]


def test_beyond_the_wait_budget_answers_202_and_reports_progress(
    planning: Planning, tree: Path
) -> None:
    response = planning.post(f"{URL}?wait=0", {"marqed_dir": str(tree), "project_name": "demo"})
    assert response.status_code == 202
    status_url = response.get_json()["status_url"]
    op = wait_until(
        lambda: (o := planning.get(status_url).get_json())["status"] == "succeeded" and o,
        timeout=30,
        what="the MarQed import",
    )
    assert op["result"]["created"] == TOTAL
    assert op["progress"]["done"] == op["progress"]["total"] == TOTAL + 2
    with planning.app.app_context():
        progress = db.session.scalars(
            sa.select(Event)
            .where(Event.channel == f"operation:{op['id']}", Event.type == "operation.progress")
            .order_by(Event.id)
        ).all()
    assert len(progress) == TOTAL + 2
    assert progress[0].data["progress"]["message"] == "EPIC-001 created"


class Crash(Exception):
    """The process died."""


class FakeContext:
    """An operation context that keeps its checkpoint in memory and can 'die' on a save."""

    def __init__(self, params: dict[str, Any], checkpoint: dict[str, Any], crash_on_save: int = 0):
        self.id, self.kind, self.project, self.attempt = (
            "op-test",
            "planning.marqed_import",
            None,
            1,
        )
        self.params, self.checkpoint = params, copy.deepcopy(checkpoint)
        self.saved: dict[str, Any] = copy.deepcopy(checkpoint)
        self.crash_on_save, self.saves = crash_on_save, 0

    def save_checkpoint(self, data: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.crash_on_save:
            raise Crash  # the object was created in Plane; its id was never recorded
        self.saved = copy.deepcopy(data)

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        pass

    def raise_if_cancelled(self) -> None:
        pass


def test_resumed_import_creates_nothing_twice(planning: Planning, tree: Path) -> None:
    fake = planning.fake
    params = {"marqed_dir": str(tree), "cycle_id": None, "project_name": "demo"}
    with planning.app.app_context():
        first = FakeContext(params, {}, crash_on_save=TOTAL // 2 + 1)
        with pytest.raises(Crash):
            marqed_import_operation(first)  # type: ignore[arg-type]  # FakeContext: a duck-typed stand-in
        assert len(first.saved["ids"]) == TOTAL // 2
        created_before = len(fake.objects_by_external_id())
        assert created_before == TOTAL // 2 + 1  # one more than the checkpoint knows

        resumed = FakeContext(params, first.saved)
        summary = marqed_import_operation(resumed)  # type: ignore[arg-type]  # FakeContext: a duck-typed stand-in
    assert set(fake.objects_by_external_id().values()) == {1}
    assert len(fake.objects_by_external_id()) == TOTAL
    assert summary["total_entities"] == TOTAL and summary["errors"] == 0
    # The one created before the crash but not checkpointed is found again, not duplicated.
    assert summary["existing"] == 1
    assert summary["created"] == TOTAL - 1
    # Entities from the checkpoint were not sent again at all.
    posts = fake.calls_to("POST", r"/(issues|modules)/$")
    assert len(posts) == TOTAL + 1


# -- two trees whose epics have the same names, over real HTTP ------------------------------------


def second_tree(root: Path, project: str) -> Path:
    """A tree with the same epic names as ``tree`` but another MarQed project (other ids)."""
    make_tree(root, **COUNTS)
    (root / "project.md").write_text(f"# {project}\n\nAnother MarQed tree.\n")
    return root


def import_over_http(port: int, root: Path) -> dict[str, Any]:
    reply = call(port, "POST", URL, json_body={"marqed_dir": str(root), "project_name": "demo"})
    assert reply.status == 200, reply.body
    return reply.json()


def modules_by_name(planning: Planning) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in planning.fake.state.modules.values()}


def test_a_second_tree_never_adopts_or_links_into_another_trees_modules(
    planning: Planning, tree: Path, tmp_path: Path
) -> None:
    fake = planning.fake
    with serving(planning.app) as port:
        first = import_over_http(port, tree)
        first_modules = {
            e["identifier"]: e["planning_id"]
            for e in first["entities"]
            if e["entity_type"] == "epic"
        }
        members_before = {
            mid: list(fake.state.module_issues[mid]) for mid in first_modules.values()
        }

        billing = import_over_http(port, second_tree(tmp_path / "billing", "Billing"))
    assert billing["existing"] == 0 and billing["errors"] == 0
    assert billing["created"] == TOTAL and billing["modules_created"] == 2
    epics = {e["identifier"]: e for e in billing["entities"] if e["entity_type"] == "epic"}
    for ident, entity in epics.items():
        assert entity["action"] == "created"
        assert entity["planning_id"] != first_modules[ident]
        assert entity["name"] == f"Epic {int(ident[-3:])} (billing)"  # disambiguated, documented
    # The first tree's modules hold exactly their own work items still.
    assert {mid: fake.state.module_issues[mid] for mid in first_modules.values()} == members_before
    billing_items = {e["planning_id"] for e in billing["entities"] if e["entity_type"] != "epic"}
    for entity in epics.values():
        members = set(fake.state.module_issues[entity["planning_id"]])
        assert members and members <= billing_items
    by_name = modules_by_name(planning)
    assert by_name["Epic 1"]["external_id"] == "marqed:demo-project:EPIC-001"
    assert by_name["Epic 1 (billing)"]["external_id"] == "marqed:billing:EPIC-001"

    # Importing the second tree again finds its own modules (by external id), creates nothing.
    with serving(planning.app) as port:
        again = import_over_http(port, tmp_path / "billing")
    assert again["created"] == 0 and again["existing"] == TOTAL and again["errors"] == 0
    assert {e["identifier"]: e["planning_id"] for e in again["entities"]} == {
        e["identifier"]: e["planning_id"] for e in billing["entities"]
    }
    assert [e["name"] for e in again["entities"] if e["entity_type"] == "epic"] == [
        "Epic 1 (billing)",
        "Epic 2 (billing)",
    ]
    assert len(fake.state.modules) == 4


def test_a_name_taken_twice_by_strangers_is_reported_per_epic(
    planning: Planning, tmp_path: Path
) -> None:
    fake = planning.fake
    # Modules made by hand in Plane (no external id) under both names the epic could take.
    by_hand = fake.add_module(planning.plane_project, "Epic 1")
    fake.add_module(planning.plane_project, "Epic 1 (ops)")
    with serving(planning.app) as port:
        summary = import_over_http(port, second_tree(tmp_path / "ops", "Ops"))
    epics = {e["identifier"]: e for e in summary["entities"] if e["entity_type"] == "epic"}
    assert epics["EPIC-001"]["action"] == "error" and epics["EPIC-001"]["planning_id"] == ""
    assert "MODULE_NAME_ALREADY_EXISTS" in epics["EPIC-001"]["error"]
    assert epics["EPIC-002"]["action"] == "created"
    assert summary["errors"] == 1 and summary["created"] == TOTAL - 1
    assert fake.state.module_issues[by_hand] == []  # nothing linked into a stranger's module
