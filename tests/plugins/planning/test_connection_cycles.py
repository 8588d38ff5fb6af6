"""POST /api/planning/test-connection and GET /api/planning/cycles against the fake Plane."""

from __future__ import annotations

import datetime as dt

from tests.plugins.planning.conftest import Planning


def test_connection_ok_reports_project_and_version(planning: Planning) -> None:
    body = planning.post("/api/planning/test-connection?project_name=demo").get_json()
    assert body == {
        "status": "ok",
        "workspace": "mq-it",
        "project_name": "MQ DevEngine Project",
        "planning_version": "1.3.1",
    }
    assert planning.fake.calls_to("GET", r"/api/instances/$")


def test_connection_without_instance_endpoint_has_no_version(planning: Planning) -> None:
    planning.fake.version = None  # a white-label deployment that hides /api/instances/
    body = planning.post("/api/planning/test-connection?project_name=demo").get_json()
    assert body["status"] == "ok" and body["planning_version"] is None


def test_wrong_key_is_the_seeds_invalid_api_key(planning: Planning) -> None:
    planning.post("/api/planning/config", {"planning_api_key": "plane_api_" + "0" * 32})
    response = planning.post("/api/planning/test-connection?project_name=demo")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "error"
    assert body["message"] == "Invalid API key"
    # Plane answers 403 to a wrong key; the seed reports it as 401.
    assert body["details"].startswith("HTTP 401 from MQ Planning API")
    assert "Given API token is not valid" in body["details"]


def test_unknown_project_is_reported(planning: Planning) -> None:
    planning.post(
        "/api/planning/config",
        {"project_name": "demo", "planning_project_id": "00000000-0000-4000-8000-000000000000"},
    )
    body = planning.post("/api/planning/test-connection?project_name=demo").get_json()
    assert body["status"] == "error"
    assert body["message"] == "Workspace or project not found"
    assert "HTTP 404" in body["details"]


def test_plane_down_is_an_error_not_a_crash(planning: Planning) -> None:
    planning.fake.down = True
    planning.http_options["max_retries"] = 1
    body = planning.post("/api/planning/test-connection?project_name=demo").get_json()
    assert body["status"] == "error"
    assert body["message"] == "MQ Planning API unreachable"
    assert "unreachable" in body["details"]


def test_not_configured(planning: Planning) -> None:
    planning.post("/api/planning/config", {"planning_api_key": None})
    body = planning.post("/api/planning/test-connection").get_json()
    assert body["status"] == "error" and body["message"] == "Invalid API key"


def test_cycles_have_computed_status_and_counts(planning: Planning) -> None:
    fake, now = planning.fake, planning.now
    current = planning.cycle("Sprint 4", days_from_start=-2)
    upcoming = planning.cycle("Sprint 5", days_from_start=5)
    completed = planning.cycle("Sprint 3", days_from_start=-14)
    draft = fake.add_cycle(planning.plane_project, "Someday", None, None)
    planning.item("done", current, group="completed")
    planning.item("doing", current, group="started")
    planning.item("todo", current)

    response = planning.get("/api/planning/cycles?project_name=demo")
    assert response.status_code == 200
    cycles = {c["id"]: c for c in response.get_json()["cycles"]}
    assert cycles[current] == {
        "id": current,
        "name": "Sprint 4",
        "start_date": (now - dt.timedelta(days=2)).date().isoformat(),
        "end_date": (now + dt.timedelta(days=5)).date().isoformat(),
        "status": "current",
        "total_issues": 3,
        "completed_issues": 1,
    }
    assert cycles[upcoming]["status"] == "upcoming"
    assert cycles[upcoming]["total_issues"] == 0
    assert cycles[completed]["status"] == "completed"
    assert cycles[draft]["status"] == "draft"
    assert cycles[draft]["start_date"] is None
    order = [c["status"] for c in response.get_json()["cycles"]]
    assert order == ["current", "upcoming", "draft", "completed"]
    # Paged with an explicit per_page, one call for the four cycles.
    calls = fake.calls_to("GET", r"/cycles/$")
    assert len(calls) == 1 and calls[0].query["per_page"] == ["100"]


def test_cycles_page_through_plane(planning: Planning) -> None:
    for index in range(230):
        planning.cycle(f"Sprint {index}", days_from_start=-1000 + index * 3, length=2)
    cycles = planning.get("/api/planning/cycles?project_name=demo").get_json()["cycles"]
    assert len(cycles) == 230
    calls = planning.fake.calls_to("GET", r"/cycles/$")
    assert [c.query.get("cursor") for c in calls] == [None, ["100:1:0"], ["100:2:0"]]


def test_cycles_with_a_wrong_key_is_401_with_planes_message(planning: Planning) -> None:
    planning.post("/api/planning/config", {"planning_api_key": "plane_api_" + "1" * 32})
    response = planning.get("/api/planning/cycles?project_name=demo")
    assert response.status_code == 401
    assert "Given API token is not valid" in response.get_json()["detail"]
