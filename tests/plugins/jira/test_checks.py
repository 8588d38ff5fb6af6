"""Settings, test-connection, validate-project, adf-preview and test-adf-conversion over HTTP."""

from __future__ import annotations

import io

from plugins.jira.adf import validate_adf
from tests.plugins.jira.conftest import Env


def test_config_masks_the_token_and_binds_it_to_the_site(env: Env) -> None:
    shown = env.get("/api/jira/config").get_json()
    assert shown["api_token_set"] is True and env.fake.token not in str(shown)
    assert shown["pacing_seconds"] == 1.5 and shown["pacing"] == "fixed"
    moved = env.post("/api/jira/config", {"site_url": "https://elsewhere.atlassian.net"})
    assert moved.status_code == 422  # the token must be given again for another site
    bad = env.post("/api/jira/config", {"site_url": "ftp://x"})
    assert bad.status_code == 422
    per_project = env.post("/api/jira/config", {"project_name": "demo", "pacing": "adaptive"})
    assert per_project.get_json()["pacing"] == "adaptive"
    assert env.get("/api/jira/config").get_json()["pacing"] == "fixed"
    assert env.post("/api/jira/config", {"pacing_seconds": -1}).status_code == 422
    assert env.post("/api/jira/config", {"pacing_seconds": 0}).status_code == 200


def test_test_connection_names_the_wrong_part(env: Env) -> None:
    ok = env.post("/api/jira/test-connection").get_json()
    assert ok["ok"] is True and ok["display_name"] == "Dev Eloper"
    env.post("/api/jira/config", {"api_token": "wrong-token"})
    bad_token = env.post("/api/jira/test-connection").get_json()
    assert bad_token == {
        **bad_token,
        "ok": False,
        "problem_field": "api_token",
    }
    assert "wrong-token" not in str(bad_token)
    env.post("/api/jira/config", {"site_url": "http://127.0.0.1:9", "api_token": "x-token"})
    unreachable = env.post("/api/jira/test-connection").get_json()
    assert unreachable["ok"] is False and unreachable["problem_field"] == "site_url"
    env.post("/api/jira/config", {"site_url": None, "api_token": None})
    missing = env.post("/api/jira/test-connection")
    assert missing.status_code == 400 and missing.get_json()["code"] == "JIRA_NOT_CONFIGURED"


def test_validate_project_as_the_seed_shows(env: Env) -> None:
    body = {
        "project_key": "DEMO",
        "user_requirements": {
            "requires_sprint_assignment": True,
            "requires_assignee": True,
            "requires_priority_levels": True,
        },
    }
    result = env.post("/api/jira/validate-project", body).get_json()
    assert result["validation_status"] == "valid" and result["project_name"] == "Demo Project"
    assert result["can_create_tasks"] and result["can_view_project"]
    assert {(s["name"], s["state"]) for s in result["available_sprints"]} == {
        ("DEMO Sprint 2", "active"),
        ("DEMO Sprint 3", "future"),
    }
    assert "alice@example.com" in {m["email"] for m in result["team_members"]}
    assert "dana@example.com" not in {m["email"] for m in result["team_members"]}
    levels = {p["name"]: p["is_default"] for p in result["priority_levels"]}
    assert levels["Medium"] is True and "Highest" in levels
    assert result["blocking_issues"] == [] and result["validation_warnings"] == []

    for key in ("NOPE", "SECRET"):
        hidden = env.post("/api/jira/validate-project", {"project_key": key}).get_json()
        assert hidden["validation_status"] == "invalid" and len(hidden["blocking_issues"]) == 1
    env.fake.disable_linking()
    env.fake.revoke_permission("DEMO", "CREATE_ISSUES", env.fake.email)
    weak = env.post("/api/jira/validate-project", body).get_json()
    assert weak["validation_status"] == "invalid" and weak["can_create_tasks"] is False
    assert any(w["type"] == "links" for w in weak["validation_warnings"])
    assert env.post("/api/jira/validate-project", {"project_key": "a b"}).status_code == 422


def test_adf_preview(env: Env) -> None:
    html = '<h2>Hi</h2><p><a href="javascript:alert(1)">x</a> <code>c</code></p>'
    result = env.post("/api/jira/adf-preview", {"html": html}).get_json()
    assert set(result) == {"adf", "warnings", "adf_size_bytes", "character_reduction"}
    assert validate_adf(result["adf"]) == []
    assert result["warnings"], "the dropped link is a warning"
    assert env.post("/api/jira/adf-preview", {}).status_code == 422


def test_test_adf_conversion(env: Env) -> None:
    made = env.session(
        [
            {"title": "One", "description_html": "<ul><li>a<ul><li>b</li></ul></li></ul>"},
            {"title": "Two", "description_html": "<p>x</p>"},
        ]
    )
    sid, (one, two) = made["id"], made["tickets"]
    env.client.put(
        f"/api/jira/sessions/{sid}/tickets/{two}/attachment",
        data={"file": (io.BytesIO(b"hello"), "notes.txt")},
        content_type="multipart/form-data",
    )
    everything = env.post(f"/api/jira/test-adf-conversion/{sid}", {}).get_json()
    assert everything["tickets_tested"] == 2 and everything["all_passed"] is True
    by_id = {r["ticket_id"]: r for r in everything["results"]}
    assert by_id[one]["attachment_upload_status"] == "skipped"
    assert by_id[two]["attachment_upload_tested"] is True
    assert by_id[two]["attachment_upload_status"] == "passed"
    assert by_id[one]["adf_size_bytes"] > 0
    env.post("/api/jira/config", {"attachment_max_bytes": 2})
    only = env.post(f"/api/jira/test-adf-conversion/{sid}", {"ticket_ids": [two]}).get_json()
    assert only["tickets_tested"] == 1 and only["failed"] == 1
    assert only["results"][0]["attachment_upload_status"] == "failed"
    assert env.fake.calls_to("POST", "attachments") == []  # checked, never uploaded
    unknown = env.post(
        f"/api/jira/test-adf-conversion/{sid}",
        {"ticket_ids": ["00000000-0000-0000-0000-000000000009"]},
    )
    assert unknown.status_code == 404
