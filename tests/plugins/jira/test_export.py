"""The export over HTTP against the fake Jira: order, labels, properties, links, fallbacks."""

from __future__ import annotations

from tests.plugins.jira.conftest import Env


def test_export_creates_every_ticket_once_and_links_blockers_inward(env: Env) -> None:
    made = env.session(
        [
            {"title": "Base", "description_html": "<h1>Base</h1><p>With <b>bold</b></p>"},
            {"title": "Middle", "dependencies": [0], "priority": "High", "labels": ["x"]},
            {"title": "Top", "dependencies": [1, 0], "sprint": "DEMO Sprint 2"},
        ]
    )
    sid = made["id"]
    started = env.post(f"/api/jira/export-session/{sid}")
    assert started.status_code == 202, started.get_json()
    body = started.get_json()
    assert body["status"] == "exporting" and body["total_tickets"] == 3
    assert body["jira_project_key"] == "DEMO"
    again = env.post(f"/api/jira/export-session/{sid}")
    assert again.status_code == 202 and again.get_json()["task_id"] == body["task_id"]
    assert env.run() == 1

    counts = env.fake.label_counts("junction-")
    assert len(counts) == 3 and set(counts.values()) == {1}
    keys = {t["title"]: t["jira_ticket_key"] for t in env.status_row(sid)["tickets"]}
    assert set(env.fake.blocks()) == {
        (keys["Base"], keys["Middle"]),
        (keys["Middle"], keys["Top"]),
        (keys["Base"], keys["Top"]),
    }
    issue = env.fake.issue(keys["Top"])
    assert issue.properties["com.junction.export"]["ticket_id"] == made["tickets"][2]
    assert issue.sprint_id == env.fake.seeded["sprints"]["DEMO Sprint 2"]
    links = env.fake.calls_to("POST", r"/issueLink$")
    assert len(links) == 3
    assert links[0].body["inwardIssue"] == {"key": keys["Base"]}

    status = env.get(f"/api/jira/export-status/{sid}").get_json()
    assert status["status"] == "completed" and status["jira_tickets_created"] == 3
    assert status["dependencies_created"] == 3
    results = env.get(f"/api/jira/export-results/{sid}").get_json()
    assert results["total_tickets_created"] == 3
    assert {t["jira_key"] for t in results["jira_tickets"]} == set(keys.values())
    assert all(t["jira_url"].endswith("/browse/" + t["jira_key"]) for t in results["jira_tickets"])
    # Fixed pacing: 1.5 s between tickets (on the fake clock).
    assert env.clock.slept.count(1.5) == 2


def test_fallbacks_are_recorded_as_manual_fixes(env: Env) -> None:
    made = env.session(
        [
            {
                "title": "Odd",
                "assignee": "dana@example.com",
                "sprint": "DEMO Sprint 1",
                "priority": "Blocker",
            },
            {"title": "Fine", "assignee": "alice@example.com", "priority": "Low"},
        ]
    )
    sid = made["id"]
    assert env.post(f"/api/jira/export-session/{sid}").status_code == 202
    env.run()
    results = env.get(f"/api/jira/export-results/{sid}").get_json()
    kinds = sorted(f["issue_type"] for f in results["manual_fixes"])
    assert kinds == ["assignee_invalid", "priority_unavailable", "sprint_not_found"]
    odd = next(t for t in env.status_row(sid)["tickets"] if t["title"] == "Odd")
    assert all(f["jira_key"] == odd["jira_ticket_key"] for f in results["manual_fixes"])
    issue = env.fake.issue(odd["jira_ticket_key"])
    assert issue.fields["assignee"] is None and issue.sprint_id is None
    fine = next(t for t in env.status_row(sid)["tickets"] if t["title"] == "Fine")
    assert (
        env.fake.issue(fine["jira_ticket_key"]).fields["assignee"]
        == (env.fake.seeded["users"]["alice@example.com"])
    )
