"""Sessions and tickets over HTTP: CRUD, ordering, dependencies and cycles, attachments,
sessions built from a project's features, and the 409 once a session is exporting."""

from __future__ import annotations

import io

from tests.plugins.jira.conftest import PROJECT, Env

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def test_session_and_ticket_crud(env: Env) -> None:
    made = env.post("/api/jira/sessions", {"name": "Sprint 7", "jira_project_key": "DEMO"})
    assert made.status_code == 201
    sid = made.get_json()["id"]
    assert env.get("/api/jira/sessions").get_json()["total"] == 1
    second = env.post(f"/api/jira/sessions/{sid}/tickets", {"title": "Second", "order": 5})
    first = env.post(f"/api/jira/sessions/{sid}/tickets", {"title": "First", "order": 1})
    assert first.get_json()["issue_type"] == "Task"
    titles = [t["title"] for t in env.get(f"/api/jira/sessions/{sid}/tickets").get_json()["items"]]
    assert titles == ["First", "Second"]
    tid = second.get_json()["id"]
    patched = env.client.patch(
        f"/api/jira/sessions/{sid}/tickets/{tid}", json={"priority": "High", "labels": ["a"]}
    )
    assert patched.status_code == 200 and patched.get_json()["priority"] == "High"
    renamed = env.client.patch(f"/api/jira/sessions/{sid}", json={"name": "Sprint 8"})
    assert renamed.get_json()["name"] == "Sprint 8"
    assert env.client.delete(f"/api/jira/sessions/{sid}/tickets/{tid}").status_code == 204
    assert env.get(f"/api/jira/sessions/{sid}/tickets/{tid}").status_code == 404
    assert env.get("/api/jira/sessions/not-a-uuid").status_code == 404
    missing = env.get("/api/jira/sessions/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/problem+json")
    assert env.client.delete(f"/api/jira/sessions/{sid}").status_code == 204
    assert env.get(f"/api/jira/sessions/{sid}").status_code == 404


def test_dependency_cycle_is_refused_naming_it(env: Env) -> None:
    made = env.session([{"title": "A"}, {"title": "B", "dependencies": [0]}])
    sid, (a, b) = made["id"], made["tickets"]
    cyclic = env.client.patch(f"/api/jira/sessions/{sid}/tickets/{a}", json={"dependencies": [b]})
    assert cyclic.status_code == 422
    problem = cyclic.get_json()
    assert problem["cycle"][0] == problem["cycle"][-1]
    assert set(problem["cycle"]) == {a, b}
    assert "A (" in problem["detail"] and "B (" in problem["detail"]
    foreign = env.client.patch(
        f"/api/jira/sessions/{sid}/tickets/{a}",
        json={"dependencies": ["00000000-0000-0000-0000-000000000001"]},
    )
    assert foreign.status_code == 422
    itself = env.client.patch(f"/api/jira/sessions/{sid}/tickets/{a}", json={"dependencies": [a]})
    assert itself.status_code == 422


def test_bad_ticket_input_is_a_problem(env: Env) -> None:
    sid = env.session([])["id"]
    assert env.post(f"/api/jira/sessions/{sid}/tickets", {}).status_code == 422
    bad = env.post(f"/api/jira/sessions/{sid}/tickets", {"title": "x", "labels": ["has space"]})
    assert bad.status_code == 422


def test_attachment_is_sniffed_size_limited_and_in_the_instance_folder(env: Env) -> None:
    made = env.session([{"title": "With file"}])
    sid, tid = made["id"], made["tickets"][0]
    url = f"/api/jira/sessions/{sid}/tickets/{tid}/attachment"
    put = env.client.put(
        url,
        data={"file": (io.BytesIO(PNG), "../../shot.txt")},
        content_type="multipart/form-data",
    )
    assert put.status_code == 200, put.get_json()
    attachment = put.get_json()["attachment"]
    assert attachment == {
        "filename": "shot.txt",
        "size": len(PNG),
        "content_type": "image/png",
        "uploaded": False,
    }
    env.post("/api/jira/config", {"attachment_max_bytes": 10})
    too_big = env.client.put(
        url, data={"file": (io.BytesIO(PNG), "big.png")}, content_type="multipart/form-data"
    )
    assert too_big.status_code == 413
    assert env.client.put(url, json={"x": 1}).status_code == 415
    env.post("/api/jira/config", {"attachment_max_bytes": 1000})
    assert env.post(f"/api/jira/export-session/{sid}").status_code == 202
    env.run()
    key = env.status_row(sid)["tickets"][0]["jira_ticket_key"]
    files = env.fake.issue(key).attachments
    assert [(a.filename, len(a.content)) for a in files] == [("shot.txt", len(PNG))]


def test_tickets_of_an_exporting_or_exported_session_are_locked(env: Env) -> None:
    made = env.session([{"title": "A"}])
    sid, tid = made["id"], made["tickets"][0]
    env.post(f"/api/jira/export-session/{sid}")
    for response in (
        env.client.patch(f"/api/jira/sessions/{sid}/tickets/{tid}", json={"title": "B"}),
        env.post(f"/api/jira/sessions/{sid}/tickets", {"title": "C"}),
        env.client.delete(f"/api/jira/sessions/{sid}/tickets/{tid}"),
        env.client.delete(f"/api/jira/sessions/{sid}"),
    ):
        assert response.status_code == 409, response.get_json()
    env.run()
    again = env.client.patch(f"/api/jira/sessions/{sid}/tickets/{tid}", json={"title": "B"})
    assert again.status_code == 409
    assert env.post(f"/api/jira/export-session/{sid}").status_code == 422


def test_session_from_features_renders_html_and_carries_dependencies(env: Env) -> None:
    base = env.post(
        f"/api/projects/{PROJECT}/features",
        {
            "name": "Login",
            "description": "Users <sign> in.",
            "steps": ["Open", "Type"],
            "acceptance_criteria": ["Works"],
        },
    ).get_json()
    top = env.post(
        f"/api/projects/{PROJECT}/features", {"name": "Profile", "dependencies": [base["id"]]}
    ).get_json()
    made = env.post("/api/jira/sessions", {"project_name": PROJECT, "from_features": True})
    assert made.status_code == 201, made.get_json()
    tickets = made.get_json()["tickets"]
    by_title = {t["title"]: t for t in tickets}
    login = by_title["Login"]
    assert "<p>Users &lt;sign&gt; in.</p>" in login["description_html"]
    assert "<ol><li>Open</li><li>Type</li></ol>" in login["description_html"]
    assert "<ul><li>Works</li></ul>" in login["description_html"]
    assert by_title["Profile"]["dependencies"] == [login["id"]]
    assert by_title["Profile"]["feature_id"] == top["id"]
    sid = made.get_json()["id"]
    env.post(f"/api/jira/export-session/{sid}")
    env.run()
    again = env.post("/api/jira/sessions", {"project_name": PROJECT, "from_features": True})
    assert again.get_json()["tickets"] == []  # every feature exported already
    chosen = env.post(
        "/api/jira/sessions", {"project_name": PROJECT, "feature_ids": [top["id"]]}
    ).get_json()
    assert [t["title"] for t in chosen["tickets"]] == ["Profile"]
    unknown = env.post("/api/jira/sessions", {"project_name": PROJECT, "feature_ids": [999]})
    assert unknown.status_code == 422
    no_project = env.post("/api/jira/sessions", {"feature_ids": [top["id"]]})
    assert no_project.status_code == 422


def test_migration_matches_the_models(env: Env) -> None:
    from app.testing import migration_drift

    with env.app.app_context():
        assert migration_drift(env.app, table_prefix="jira_") == []
