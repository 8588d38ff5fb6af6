"""POST /api/planning/import-cycle: the seed's logic, mapping, call economy and error table."""

from __future__ import annotations

from typing import Any

from tests.plugins.planning.conftest import Planning


def features(planning: Planning) -> dict[str, dict[str, Any]]:
    """The project's features by work item id."""
    page = planning.get("/api/projects/demo/features?limit=500").get_json()
    return {f["planning_work_item_id"]: f for f in page["items"]}


def import_cycle(planning: Planning, cycle: str) -> Any:
    return planning.post("/api/planning/import-cycle", {"cycle_id": cycle, "project_name": "demo"})


def test_created_updated_and_skipped(planning: Planning) -> None:
    fake, project = planning.fake, planning.plane_project
    cycle = planning.cycle("Sprint 4")
    label = fake.add_label(project, "security")
    parent = planning.item(
        "Add OAuth2 login",
        cycle,
        group="started",
        priority="urgent",
        labels=[label],
        description_html="<p>Login with OAuth2.</p><h3>Acceptance Criteria</h3>"
        "<ul><li>Given a user, when they log in, then they see the dashboard</li></ul>",
    )
    child = planning.item("Token refresh", cycle, group="completed", priority="low", parent=parent)
    cancelled = planning.item("Dropped idea", cycle, group="cancelled", priority="high")

    response = import_cycle(planning, cycle)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["imported"], body["updated"], body["skipped"]) == (2, 0, 1)
    details = {d["planning_id"]: d for d in body["details"]}
    assert details[cancelled] == {
        "planning_id": cancelled,
        "name": "Dropped idea",
        "action": "skipped",
        "reason": "cancelled",
    }
    assert details[parent]["action"] == "created"

    found = features(planning)
    assert set(found) == {parent, child}
    oauth, refresh = found[parent], found[child]
    assert details[parent]["feature_id"] == oauth["id"]
    assert (oauth["priority"], oauth["category"], oauth["in_progress"], oauth["passes"]) == (
        1,
        "security",
        True,
        False,
    )
    assert oauth["acceptance_criteria"] == [
        "Given a user, when they log in, then they see the dashboard"
    ]
    assert (refresh["priority"], refresh["category"], refresh["passes"]) == (4, "functional", True)
    assert refresh["dependencies"] == [oauth["id"]]  # the parent's feature
    assert oauth["planning_synced_at"] and oauth["planning_updated_at"]

    # Nothing changed in Plane: everything is already imported.
    again = import_cycle(planning, cycle).get_json()
    assert (again["imported"], again["updated"], again["skipped"]) == (0, 0, 3)
    reasons = {d["planning_id"]: d.get("reason") for d in again["details"]}
    assert reasons == {
        parent: "already_imported",
        child: "already_imported",
        cancelled: "cancelled",
    }

    # A newer work item in Plane updates its feature; a cancelled one is skipped.
    fake.touch_issue(parent, name="Add OAuth2 + PKCE login", priority="medium")
    fake.touch_issue(child, state=fake.state_id(project, "cancelled"))
    third = import_cycle(planning, cycle).get_json()
    assert (third["imported"], third["updated"], third["skipped"]) == (0, 1, 2)
    updated = features(planning)[parent]
    assert (updated["name"], updated["priority"], updated["id"]) == (
        "Add OAuth2 + PKCE login",
        3,
        oauth["id"],
    )


def test_one_call_per_page_and_nothing_per_item(planning: Planning) -> None:
    cycle = planning.cycle("Big sprint")
    for index in range(250):
        planning.item(f"Item {index}", cycle, priority=["urgent", "high", "none"][index % 3])
    body = import_cycle(planning, cycle).get_json()
    assert body["imported"] == 250
    fake = planning.fake
    pages = fake.calls_to("GET", r"/cycle-issues/$")
    assert len(pages) == 3
    assert all(call.query["per_page"] == ["100"] for call in pages)
    assert all(call.query["expand"] == ["state,labels"] for call in pages)
    assert len(fake.calls_to("GET", rf"/cycles/{cycle}/$")) == 1  # the existence check
    assert len(fake.calls) == 4  # nothing per work item, no state or label lists
    assert len(features(planning)) == 250


def test_unknown_cycle_is_404(planning: Planning) -> None:
    response = import_cycle(planning, "00000000-0000-4000-8000-00000000cafe")
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == "PLANNING_NOT_FOUND"
    assert "The requested resource does not exist." in body["detail"]


def test_unknown_junction_project_is_404_and_missing_fields_400(planning: Planning) -> None:
    cycle = planning.cycle("Sprint")
    response = planning.post("/api/planning/import-cycle", {"cycle_id": cycle, "project_name": "x"})
    assert response.status_code == 404
    assert planning.post("/api/planning/import-cycle", {"project_name": "demo"}).status_code == 400
    assert planning.fake.calls == []


def test_invalid_key_is_401(planning: Planning) -> None:
    cycle = planning.cycle("Sprint")
    planning.post("/api/planning/config", {"planning_api_key": "plane_api_" + "2" * 32})
    response = import_cycle(planning, cycle)
    assert response.status_code == 401
    assert response.get_json()["code"] == "PLANNING_AUTH"


def test_rate_limited_beyond_the_deadline_is_429_with_retry_after(planning: Planning) -> None:
    cycle = planning.cycle("Sprint")
    planning.item("Item", cycle)
    planning.fake.exhaust_rate_limit()  # other clients of the key used up Plane's window
    planning.http_options["max_elapsed"] = 10.0  # and Retry-After is far past the deadline
    response = import_cycle(planning, cycle)
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 50 <= retry_after <= 61  # Plane's own Retry-After (60 s window), passed on
    body = response.get_json()
    assert body["code"] == "PLANNING_RATE_LIMITED" and body["retryable"] is True
    assert "RATE_LIMIT_EXCEEDED" in body["detail"]
    assert [call.status for call in planning.fake.calls] == [429]  # no retry past the deadline
    assert features(planning) == {}


def test_remaining_zero_pauses_before_plane_has_to_refuse(planning: Planning) -> None:
    cycle = planning.cycle("Sprint")
    for index in range(150):
        planning.item(f"Item {index}", cycle)
    planning.fake.rate_limit = 2  # the second answer says X-RateLimit-Remaining: 0
    planning.http_options["max_elapsed"] = 10.0
    response = import_cycle(planning, cycle)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 50
    # The client paused on the header instead of sending a call Plane would refuse.
    assert [call.status for call in planning.fake.calls] == [200, 200]
    assert features(planning) == {}  # nothing half-imported


def test_rate_limit_within_the_deadline_is_waited_out(planning: Planning) -> None:
    cycle = planning.cycle("Sprint")
    for index in range(150):
        planning.item(f"Item {index}", cycle)
    planning.fake.exhaust_rate_limit()
    response = import_cycle(planning, cycle)
    assert response.status_code == 200
    assert response.get_json()["imported"] == 150
    assert [c.status for c in planning.fake.calls] == [429, 200, 200, 200]
    assert max(planning.clock.slept) >= 59  # Retry-After honoured (on the fake clock)


def test_plane_down_is_502(planning: Planning) -> None:
    cycle = planning.cycle("Sprint")
    planning.fake.down = True
    response = import_cycle(planning, cycle)
    assert response.status_code == 502
    assert response.get_json()["code"] == "PLANNING_UNAVAILABLE"


def test_plane_slower_than_the_read_timeout_is_502(planning: Planning) -> None:
    cycle = planning.cycle("Sprint")
    planning.fake.latency = 0.6
    planning.http_options.update(timeout=(1.0, 0.2), max_retries=1)
    response = import_cycle(planning, cycle)
    assert response.status_code == 502
    assert "read timeout" in response.get_json()["detail"]
