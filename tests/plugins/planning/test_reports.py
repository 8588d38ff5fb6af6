"""GET /api/planning/test-report and /test-history as the seed shows them."""

from __future__ import annotations

from tests.plugins.planning.conftest import Planning


def setup_features(planning: Planning) -> dict[str, int]:
    cycle = planning.cycle("Sprint")
    planning.item("OAuth2 login", cycle, priority="urgent")
    planning.item("Never tested", cycle, priority="high")
    planning.post("/api/planning/import-cycle", {"cycle_id": cycle, "project_name": "demo"})
    planning.post("/api/projects/demo/features", {"name": "Local feature", "priority": 9})
    items = planning.get("/api/projects/demo/features").get_json()["items"]
    ids = {f["name"]: f["id"] for f in items}
    runs = [
        ("OAuth2 login", True, "2026-02-10T10:00:00Z", "2026-02-10T10:05:00Z", 0),
        ("OAuth2 login", False, "2026-02-10T12:00:00Z", "2026-02-10T12:05:00Z", 1),
        ("OAuth2 login", True, "2026-02-10T14:00:00Z", "2026-02-10T14:30:00Z", 0),
        ("Local feature", False, "2026-02-10T09:00:00Z", None, None),
    ]
    for name, passed, started, completed, code in runs:
        response = planning.post(
            f"/api/projects/demo/features/{ids[name]}/test-runs",
            {
                "passed": passed,
                "agent_type": "testing" if passed else "coding",
                "started_at": started,
                "completed_at": completed,
                "return_code": code,
            },
        )
        assert response.status_code == 201
    return ids


def test_report_of_linked_features_and_of_all(planning: Planning) -> None:
    ids = setup_features(planning)
    report = planning.get("/api/planning/test-report?project_name=demo").get_json()
    assert report["total_features"] == 2
    assert (report["features_tested"], report["features_never_tested"]) == (1, 1)
    assert report["total_test_runs"] == 3
    assert report["overall_pass_rate"] == 66.7
    assert report["generated_at"]
    assert report["feature_summaries"][0] == {
        "feature_id": ids["OAuth2 login"],
        "feature_name": "OAuth2 login",
        "total_runs": 3,
        "pass_count": 2,
        "fail_count": 1,
        "last_tested_at": "2026-02-10T14:30:00+00:00",
        "last_result": True,
    }
    never = report["feature_summaries"][1]
    assert (never["total_runs"], never["last_tested_at"], never["last_result"]) == (0, None, None)

    every = planning.get("/api/planning/test-report?project_name=demo&all_features=true").get_json()
    assert every["total_features"] == 3 and every["total_test_runs"] == 4
    assert every["overall_pass_rate"] == 50.0


def test_history_newest_first_with_filters(planning: Planning) -> None:
    ids = setup_features(planning)
    history = planning.get("/api/planning/test-history?project_name=demo").get_json()
    assert history["total_count"] == 4
    assert [r["feature_name"] for r in history["runs"]] == [
        "OAuth2 login",
        "OAuth2 login",
        "OAuth2 login",
        "Local feature",
    ]
    first = history["runs"][0]
    assert {k: first[k] for k in ("passed", "agent_type", "completed_at", "return_code")} == {
        "passed": True,
        "agent_type": "testing",
        "completed_at": "2026-02-10T14:30:00+00:00",
        "return_code": 0,
    }
    one = planning.get(
        f"/api/planning/test-history?project_name=demo&feature_id={ids['OAuth2 login']}&limit=2"
    ).get_json()
    assert one["total_count"] == 3 and len(one["runs"]) == 2
    assert {r["feature_id"] for r in one["runs"]} == {ids["OAuth2 login"]}


def test_report_errors(planning: Planning) -> None:
    assert planning.get("/api/planning/test-report").status_code == 400
    assert planning.get("/api/planning/test-report?project_name=nope").status_code == 404
    assert planning.get("/api/planning/test-history?project_name=demo&limit=0").status_code == 400
    empty = planning.get("/api/planning/test-report?project_name=demo").get_json()
    assert empty["total_features"] == 0 and empty["overall_pass_rate"] == 0.0
