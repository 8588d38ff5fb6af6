"""Sync status, the toggle, and the poll job (injected time; backoff while Plane is unwell)."""

from __future__ import annotations

import datetime as dt

from app import scheduler
from plugins.planning import sync as service
from tests.core.security_http import call, serving
from tests.plugins.planning.conftest import Planning


def add_run(planning: Planning, feature_id: int, passed: bool) -> None:
    response = planning.post(
        f"/api/projects/demo/features/{feature_id}/test-runs",
        {"passed": passed, "agent_type": "testing", "started_at": "2026-02-10T14:00:00Z"},
    )
    assert response.status_code == 201, response.get_json()


def test_sync_status_and_toggle(planning: Planning) -> None:
    cycle = planning.cycle("Sprint 5")
    first = planning.item("One", cycle, group="completed")
    planning.item("Two", cycle)
    planning.item("Three", cycle, group="completed")
    planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    planning.post("/api/planning/import-cycle", {"cycle_id": cycle, "project_name": "demo"})
    # A feature that is not linked to Plane does not count in the sprint.
    planning.post("/api/projects/demo/features", {"name": "local only"})
    ids = {
        f["planning_work_item_id"]: f["id"]
        for f in planning.get("/api/projects/demo/features?linked=true").get_json()["items"]
    }
    for passed in (True, True, False, True):
        add_run(planning, ids[first], passed)

    status = planning.get("/api/planning/sync-status?project_name=demo").get_json()
    assert status["enabled"] is False and status["running"] is False
    assert status["items_synced"] == 3
    assert status["last_sync_at"] is not None and status["last_error"] is None
    assert status["active_cycle_id"] == cycle
    assert status["active_cycle_name"] == "Sprint 5"
    # "Two" has never been tested: untested, not failed (issue 8, point 11).
    assert status["sprint_stats"] == {
        "total": 3,
        "passing": 2,
        "failed": 0,
        "untested": 1,
        "total_test_runs": 4,
        "overall_pass_rate": 75.0,
    }
    assert status["sprint_complete"] is False
    assert status["webhook_count"] == 0 and status["last_webhook_at"] is None

    toggled = planning.post("/api/planning/sync/toggle?project_name=demo")
    assert toggled.status_code == 200
    assert toggled.get_json()["enabled"] is True
    assert planning.get("/api/planning/config?project_name=demo").get_json()[
        "planning_sync_enabled"
    ]
    assert planning.get("/api/planning/config").get_json()["planning_sync_enabled"] is False
    assert (
        planning.post("/api/planning/sync/toggle?project_name=demo").get_json()["enabled"] is False
    )


def test_toggle_refuses_an_unconfigured_sync(planning: Planning) -> None:
    planning.post("/api/planning/config", {"planning_api_key": None})
    response = planning.post("/api/planning/sync/toggle?project_name=demo")
    assert response.status_code == 401
    assert (
        planning.get("/api/planning/sync-status?project_name=demo").get_json()["enabled"] is False
    )


def test_global_sync_status(planning: Planning) -> None:
    body = planning.get("/api/planning/sync-status").get_json()
    assert body["enabled"] is False and body["items_synced"] == 0
    assert body["sprint_stats"]["total"] == 0


def test_poll_job_is_registered(planning: Planning) -> None:
    with planning.app.app_context():
        ids = [job.id for job in scheduler.get_service().jobs()]
    assert "planning.poll" in ids


def test_poll_job_records_syncs_and_backs_off(planning: Planning) -> None:
    fake = planning.fake
    cycle = planning.cycle("Sprint 5")
    planning.item("One", cycle)
    planning.post(
        "/api/planning/config",
        {"project_name": "demo", "planning_active_cycle_id": cycle, "planning_sync_enabled": True},
    )
    t0 = dt.datetime(2026, 2, 10, 14, 30, tzinfo=dt.UTC)

    def poll(at: dt.datetime) -> int:
        with planning.app.app_context():
            return service.poll_due_projects(at)

    def status() -> dict:
        return planning.get("/api/planning/sync-status?project_name=demo").get_json()

    assert poll(t0) == 1
    assert status()["last_sync_at"] == "2026-02-10T14:30:00+00:00"
    assert status()["items_synced"] == 1
    calls = len(fake.calls)
    assert poll(t0 + dt.timedelta(seconds=10)) == 0  # the 30 s interval has not passed
    assert len(fake.calls) == calls

    planning.item("Two", cycle)  # added to the cycle in Plane: no webhook, the poll sees it
    assert poll(t0 + dt.timedelta(seconds=31)) == 1
    assert status()["items_synced"] == 1  # one new feature in this sync
    assert len(planning.get("/api/projects/demo/features").get_json()["items"]) == 2

    fake.down = True
    planning.http_options["max_retries"] = 0
    t_down = t0 + dt.timedelta(seconds=62)
    assert poll(t_down) == 1
    down = status()
    assert down["last_error"] and "unreachable" in down["last_error"]
    assert down["backoff_until"] == (t_down + dt.timedelta(seconds=30)).isoformat()
    assert down["last_sync_at"] == "2026-02-10T14:30:31+00:00"  # the last good one stays

    # During the backoff nothing is tried; after it, a second failure doubles it.
    assert poll(t_down + dt.timedelta(seconds=20)) == 0
    assert poll(t_down + dt.timedelta(seconds=31)) == 1
    assert status()["backoff_until"] == (t_down + dt.timedelta(seconds=91)).isoformat()

    # Plane rate-limiting with a Retry-After longer than the backoff: the backoff follows it.
    fake.down = False
    fake.exhaust_rate_limit()
    planning.http_options["max_elapsed"] = 10.0
    t_limited = t_down + dt.timedelta(seconds=100)
    assert poll(t_limited) == 1
    limited = status()
    assert "rate limit" in limited["last_error"]
    assert dt.datetime.fromisoformat(limited["backoff_until"]) >= t_limited + dt.timedelta(
        seconds=59
    )

    # Plane is well again: the next due poll succeeds and clears the error.
    planning.clock.advance(120)  # Plane's window (fake clock) has moved on
    planning.http_options["max_elapsed"] = 300.0
    t_ok = t_limited + dt.timedelta(minutes=5)
    assert poll(t_ok) == 1
    ok = status()
    assert ok["last_error"] is None and ok["backoff_until"] is None
    assert ok["last_sync_at"] == t_ok.isoformat()


def test_poll_skips_disabled_projects(planning: Planning) -> None:
    cycle = planning.cycle("Sprint 5")
    planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    with planning.app.app_context():
        assert service.poll_due_projects() == 0
    assert planning.fake.calls == []


# -- numbers a user can trust, over real HTTP ------------------------------------------------------


def test_items_synced_right_after_importing_and_after_a_no_op_re_import(planning: Planning) -> None:
    cycle = planning.cycle("Sprint 5")
    for index in range(5):
        planning.item(f"Item {index}", cycle)
    with serving(planning.app) as port:

        def status(query: str = "?project_name=demo") -> dict:
            reply = call(port, "GET", f"/api/planning/sync-status{query}")
            assert reply.status == 200, reply.body
            return reply.json()

        body = {"cycle_id": cycle, "project_name": "demo"}
        imported = call(port, "POST", "/api/planning/import-cycle", json_body=body).json()
        assert imported["imported"] == 5
        assert status()["items_synced"] == 5
        # Without project_name (the seed's own call) the projects' syncs are summed.
        overall = status("")
        assert overall["items_synced"] == 5 and overall["last_sync_at"] is not None
        # A re-import that finds everything up to date (a webhook, the next poll) keeps it.
        again = call(port, "POST", "/api/planning/import-cycle", json_body=body).json()
        assert (again["imported"], again["updated"], again["skipped"]) == (0, 0, 5)
        assert status()["items_synced"] == 5 and status("")["items_synced"] == 5


def test_untested_features_are_not_failed(planning: Planning) -> None:
    cycle = planning.cycle("Sprint 5")
    planning.item("Tested and failing", cycle)
    planning.item("Never tested", cycle)
    planning.item("Done", cycle, group="completed")
    planning.post("/api/planning/import-cycle", {"cycle_id": cycle, "project_name": "demo"})
    ids = {
        f["name"]: f["id"] for f in planning.get("/api/projects/demo/features").get_json()["items"]
    }
    add_run(planning, ids["Tested and failing"], False)
    with serving(planning.app) as port:
        status = call(port, "GET", "/api/planning/sync-status?project_name=demo").json()
    assert status["sprint_stats"] == {
        "total": 3,
        "passing": 1,
        "failed": 1,
        "untested": 1,
        "total_test_runs": 1,
        "overall_pass_rate": 0.0,
    }
    assert status["sprint_complete"] is False
