"""The fake Jira answers every endpoint the jira plugin calls as Jira Cloud does (over HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.fakes.conftest import JiraClient
from tests.fakes.jira import FakeJira

P = "/rest/api/3"


def adf(text: str = "Hello") -> dict[str, Any]:
    """A minimal valid ADF document."""
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def create(client: JiraClient, *, timeout: float = 10, **fields: Any) -> Any:
    """POST /issue in DEMO as a Task with ``fields`` on top of a summary."""
    body = {
        "fields": {
            "project": {"key": "DEMO"},
            "issuetype": {"name": "Task"},
            "summary": "A ticket",
            **fields,
        }
    }
    return client.post(f"{P}/issue", json=body, timeout=timeout)


def test_myself_needs_the_right_email_and_token(jira: FakeJira, client: JiraClient) -> None:
    me = client.get(f"{P}/myself")
    assert me.status_code == 200
    assert me.json()["accountId"] == jira.account_id
    assert me.json()["emailAddress"] == jira.email
    bad = client.get(f"{P}/myself", auth=(jira.email, "wrong-token"))
    assert bad.status_code == 401
    assert bad.json() == {
        "errorMessages": ["Client must be authenticated to access this resource."],
        "errors": {},
    }
    assert client.get(f"{P}/myself", auth=("nobody@example.com", jira.token)).status_code == 401
    assert requests.get(jira.url + f"{P}/myself", timeout=5).status_code == 401


def test_a_project_you_cannot_browse_is_a_404_like_a_missing_one(client: JiraClient) -> None:
    project = client.get(f"{P}/project/DEMO")
    assert project.status_code == 200
    assert project.json()["key"] == "DEMO"
    assert {t["name"] for t in project.json()["issueTypes"]} == {"Task", "Bug", "Story", "Epic"}
    hidden, missing = client.get(f"{P}/project/SECRET"), client.get(f"{P}/project/NOPE")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["errorMessages"] == ["No project could be found with key 'SECRET'."]


def test_mypermissions_reports_each_permission(jira: FakeJira, client: JiraClient) -> None:
    keys = "CREATE_ISSUES,BROWSE_PROJECTS,LINK_ISSUES,CREATE_ATTACHMENTS"
    answer = client.get(f"{P}/mypermissions", params={"projectKey": "DEMO", "permissions": keys})
    assert answer.status_code == 200
    assert {k: v["havePermission"] for k, v in answer.json()["permissions"].items()} == {
        k: True for k in keys.split(",")
    }
    jira.revoke_permission("DEMO", "LINK_ISSUES")
    again = client.get(f"{P}/mypermissions", params={"projectKey": "DEMO", "permissions": keys})
    assert again.json()["permissions"]["LINK_ISSUES"]["havePermission"] is False
    hidden = client.get(f"{P}/mypermissions", params={"projectKey": "SECRET", "permissions": keys})
    assert hidden.status_code == 404
    assert jira.violations == []
    # Jira needs ``permissions`` although the document forgets to say so (patched at load).
    missing = client.get(f"{P}/mypermissions", params={"projectKey": "DEMO"})
    assert missing.status_code == 400
    assert [v.kind for v in jira.violations] == ["openapi"]


def test_createmeta_is_paged_and_lists_the_create_screen(
    jira: FakeJira, client: JiraClient
) -> None:
    first = client.get(f"{P}/issue/createmeta/DEMO/issuetypes", params={"maxResults": 2})
    assert first.status_code == 200
    assert first.json()["total"] == 4 and len(first.json()["issueTypes"]) == 2
    rest = client.get(
        f"{P}/issue/createmeta/DEMO/issuetypes", params={"startAt": 2, "maxResults": 2}
    )
    names = [t["name"] for t in first.json()["issueTypes"] + rest.json()["issueTypes"]]
    assert sorted(names) == ["Bug", "Epic", "Story", "Task"]
    task = next(t for t in first.json()["issueTypes"] if t["name"] == "Task")
    fields = client.get(f"{P}/issue/createmeta/DEMO/issuetypes/{task['id']}").json()["fields"]
    by_id = {f["fieldId"]: f for f in fields}
    assert by_id["summary"]["required"] is True and by_id["description"]["required"] is False
    assert [p["name"] for p in by_id["priority"]["allowedValues"]] == [
        "Highest",
        "High",
        "Medium",
        "Low",
        "Lowest",
    ]
    assert by_id["priority"]["defaultValue"]["name"] == "Medium"
    sprint = next(f for f in fields if f["name"] == "Sprint")
    assert sprint["schema"]["custom"] == "com.pyxis.greenhopper.jira:gh-sprint"
    assert jira.violations == []
    too_many = client.get(f"{P}/issue/createmeta/DEMO/issuetypes", params={"maxResults": 500})
    assert too_many.status_code == 400
    assert "500 is greater than the maximum of 200" in too_many.json()["errorMessages"][0]


def test_users_assignable_and_searchable(
    jira: FakeJira, client: JiraClient, demo: dict[str, Any]
) -> None:
    assignable = client.get(f"{P}/user/assignable/search", params={"project": "DEMO", "query": ""})
    emails = {u.get("emailAddress") for u in assignable.json()}
    assert {"alice@example.com", "bob@example.com"} <= emails
    assert demo["unassignable_user"] not in emails
    exact = client.get(
        f"{P}/user/assignable/search",
        params={"project": "DEMO", "accountId": demo["users"]["alice@example.com"]},
    )
    assert [u["displayName"] for u in exact.json()] == ["Alice Martin"]
    both = client.get(
        f"{P}/user/assignable/search",
        params={"project": "DEMO", "query": "a", "accountId": jira.account_id},
    )
    assert both.status_code == 400
    found = client.get(f"{P}/user/search", params={"query": "bob@"})
    assert [u["accountId"] for u in found.json()] == [demo["users"]["bob@example.com"]]
    assert client.get(f"{P}/user/search").status_code == 400


def test_priorities_of_the_project_scheme(client: JiraClient, demo: dict[str, Any]) -> None:
    answer = client.get(f"{P}/priority/search", params={"projectId": demo["project_id"]})
    assert answer.status_code == 200
    values = answer.json()["values"]
    assert [p["name"] for p in values if p["isDefault"]] == ["Medium"]
    only = client.get(
        f"{P}/priority/search", params={"projectId": demo["project_id"], "onlyDefault": "true"}
    )
    assert [p["name"] for p in only.json()["values"]] == ["Medium"]


def test_link_types_and_linking_disabled(jira: FakeJira, client: JiraClient) -> None:
    types = client.get(f"{P}/issueLinkType").json()["issueLinkTypes"]
    blocks = next(t for t in types if t["name"] == "Blocks")
    assert (blocks["inward"], blocks["outward"]) == ("is blocked by", "blocks")
    jira.disable_linking()
    assert client.get(f"{P}/issueLinkType").status_code == 404


def test_create_with_every_field_and_read_it_back(
    jira: FakeJira, client: JiraClient, demo: dict[str, Any]
) -> None:
    alice = demo["users"]["alice@example.com"]
    sprint = demo["sprints"]["DEMO Sprint 2"]
    answer = client.post(
        f"{P}/issue",
        json={
            "fields": {
                "project": {"key": "DEMO"},
                "issuetype": {"id": "10001"},
                "summary": "Configure product fields",
                "description": adf("Details"),
                "labels": ["junction-abcdef12-t1"],
                "assignee": {"accountId": alice},
                "priority": {"name": "High"},
                "customfield_10020": sprint,
            },
            "properties": [{"key": "junction", "value": {"ticket_id": "t1"}}],
        },
    )
    assert answer.status_code == 201
    assert answer.json()["key"] == "DEMO-1" and answer.json()["id"].isdigit()
    issue = client.get(f"{P}/issue/DEMO-1", params={"properties": "junction"}).json()
    fields = issue["fields"]
    assert fields["summary"] == "Configure product fields"
    assert fields["description"] == adf("Details")
    assert fields["labels"] == ["junction-abcdef12-t1"]
    assert fields["assignee"]["accountId"] == alice
    assert fields["priority"]["name"] == "High"
    assert [(s["id"], s["state"]) for s in fields["customfield_10020"]] == [(sprint, "active")]
    assert issue["properties"] == {"junction": {"ticket_id": "t1"}}
    assert jira.issue("DEMO-1").properties == {"junction": {"ticket_id": "t1"}}
    only = client.get(f"{P}/issue/DEMO-1", params={"fields": "summary"}).json()
    assert list(only["fields"]) == ["summary"]
    assert jira.violations == []


def test_defaults_when_assignee_and_priority_are_omitted(client: JiraClient) -> None:
    assert create(client).status_code == 201
    fields = client.get(f"{P}/issue/DEMO-1").json()["fields"]
    assert fields["assignee"] is None
    assert fields["priority"]["name"] == "Medium"


def test_fields_not_on_the_screen_and_required_fields(jira: FakeJira, client: JiraClient) -> None:
    jira.remove_from_screen("DEMO", "Task", "customfield_10020")
    off = create(client, customfield_10020=2)
    assert off.status_code == 400
    assert off.json()["errors"] == {
        "customfield_10020": "Field 'customfield_10020' cannot be set. It is not on the "
        "appropriate screen, or unknown."
    }
    jira.set_required("DEMO", "Task", "customfield_10030")
    required = create(client)
    assert required.json()["errors"] == {"customfield_10030": "Team is required."}
    no_summary = client.post(
        f"{P}/issue",
        json={
            "fields": {
                "project": {"key": "DEMO"},
                "issuetype": {"name": "Task"},
                "customfield_10030": "Core",
            }
        },
    )
    assert no_summary.json()["errors"] == {"summary": "You must specify a summary of the issue."}
    assert jira.issues() == [] and jira.violations == []


def test_values_jira_refuses_are_answered_per_field(
    jira: FakeJira, client: JiraClient, demo: dict[str, Any]
) -> None:
    outsider = demo["users"][demo["unassignable_user"]]
    cases = {
        "assignee": {"accountId": outsider},
        "priority": {"name": "Blocker"},
        "customfield_10020": demo["sprints"]["DEMO Sprint 1"],  # closed
        "labels": ["two words"],
    }
    for field, value in cases.items():
        answer = create(client, **{field: value})
        assert answer.status_code == 400, field
        assert list(answer.json()["errors"]) == [field]
    assert "cannot be assigned issues" in create(client, **{"assignee": cases["assignee"]}).text
    # Data the exporter must fall back from is not a contract violation.
    assert jira.violations == [] and jira.issues() == []


def test_bad_shapes_are_refused_and_recorded_as_violations(
    jira: FakeJira, client: JiraClient
) -> None:
    plain = create(client, description="just text")
    assert plain.status_code == 400
    assert plain.json()["errors"] == {
        "description": "Operation value must be an Atlassian Document (see the Atlassian "
        "Document Format)"
    }
    sprint = create(client, customfield_10020={"id": 2})
    assert sprint.json() == {
        "errorMessages": ["Number value expected as the Sprint id."],
        "errors": {"customfield_10020": "The Sprint (id) must be a number"},
    }
    email = create(client, assignee={"emailAddress": "alice@example.com"})
    assert list(email.json()["errors"]) == ["assignee"]
    assert [v.kind for v in jira.violations] == ["field-shape"] * 3
    assert jira.issues() == []


@pytest.mark.parametrize(
    "description",
    [
        {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": ""}]}]},
        {"type": "doc", "version": 1, "content": [{"type": "text", "text": "bare text"}]},
        {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strong"}]}]}]},
        {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "x", "marks": []}]}]},
        {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "x", "marks": [
                {"type": "link", "attrs": {"href": "javascript:alert(1)"}}]}]}]},
        {"type": "doc", "version": 1, "content": [{"type": "hardBreak"}]},
    ],
    ids=["empty-text", "text-at-doc-level", "code-with-strong", "empty-marks", "js-link", "br"],
)  # fmt: skip
def test_invalid_adf_is_invalid_input(
    jira: FakeJira, client: JiraClient, description: dict[str, Any]
) -> None:
    answer = create(client, description=description)
    assert answer.status_code == 400
    assert answer.json() == {"errorMessages": ["INVALID_INPUT"], "errors": {}}
    assert [v.kind for v in jira.violations] == ["adf"]
    assert jira.issues() == []


def test_issue_properties(client: JiraClient) -> None:
    create(client)
    url = f"{P}/issue/DEMO-1/properties/junction"
    assert client.put(url, json={"ticket": "t1"}).status_code == 201
    assert client.put(url, json={"ticket": "t2"}).status_code == 200
    assert client.get(url).json() == {"key": "junction", "value": {"ticket": "t2"}}
    assert client.get(f"{P}/issue/DEMO-1/properties/other").status_code == 404
    assert client.get(f"{P}/issue/DEMO-99/properties/junction").status_code == 404


def test_link_direction_is_exactly_jiras(jira: FakeJira, client: JiraClient) -> None:
    create(client, summary="Blocker")
    create(client, summary="Blocked")
    body = {
        "type": {"name": "Blocks"},
        "inwardIssue": {"key": "DEMO-1"},
        "outwardIssue": {"key": "DEMO-2"},
    }
    answer = client.post(f"{P}/issueLink", json=body)
    assert answer.status_code == 201 and answer.content == b""
    # For a POST the blocker is ``inwardIssue``: Jira shows "DEMO-1 blocks DEMO-2".
    assert jira.blocks() == [("DEMO-1", "DEMO-2")]
    blocker = client.get(f"{P}/issue/DEMO-1", params={"fields": "issuelinks"}).json()
    blocked = client.get(f"{P}/issue/DEMO-2", params={"fields": "issuelinks"}).json()
    assert blocker["fields"]["issuelinks"][0]["outwardIssue"]["key"] == "DEMO-2"
    assert blocked["fields"]["issuelinks"][0]["inwardIssue"]["key"] == "DEMO-1"
    # A duplicate is "created" again without a second link.
    assert client.post(f"{P}/issueLink", json=body).status_code == 201
    assert jira.links() == [("Blocks", "DEMO-1", "DEMO-2")]
    unknown = client.post(f"{P}/issueLink", json={**body, "type": {"name": "Depends"}})
    assert unknown.status_code == 404
    missing = client.post(f"{P}/issueLink", json={**body, "outwardIssue": {"key": "DEMO-9"}})
    assert missing.status_code == 404
    assert jira.violations == []
    half = client.post(f"{P}/issueLink", json={"type": {"name": "Blocks"}, "inwardIssue": {}})
    assert half.status_code == 400
    assert [v.kind for v in jira.violations] == ["openapi"]
    assert "'outwardIssue' is a required property" in jira.violations[0].messages[0]


def test_attachments_need_the_xsrf_header_and_a_file_part(
    jira: FakeJira, client: JiraClient
) -> None:
    create(client)
    url = f"{P}/issue/DEMO-1/attachments"
    files = {"file": ("spec.txt", b"hello world", "text/plain")}
    refused = client.post(url, files=files)
    assert refused.status_code == 403
    assert [v.kind for v in jira.violations] == ["xsrf"]
    jira.violations.clear()
    headers = {"X-Atlassian-Token": "no-check"}
    answer = client.post(url, files=files, headers=headers)
    assert answer.status_code == 200
    assert [(a["filename"], a["size"]) for a in answer.json()] == [("spec.txt", 11)]
    listed = client.get(f"{P}/issue/DEMO-1", params={"fields": "attachment"}).json()
    assert [a["filename"] for a in listed["fields"]["attachment"]] == ["spec.txt"]
    wrong_part = client.post(url, files={"upload": ("x.txt", b"x", "text/plain")}, headers=headers)
    assert wrong_part.status_code == 400
    assert [v.kind for v in jira.violations] == ["openapi"]
    jira.max_attachment_bytes = 4
    too_big = client.post(url, files=files, headers=headers)
    assert too_big.status_code == 413
    assert len(jira.issue("DEMO-1").attachments) == 1


def test_comments_are_adf(jira: FakeJira, client: JiraClient) -> None:
    create(client)
    ok = client.post(f"{P}/issue/DEMO-1/comment", json={"body": adf("Exported")})
    assert ok.status_code == 201
    bad = client.post(f"{P}/issue/DEMO-1/comment", json={"body": "plain"})
    assert bad.status_code == 400
    assert [v.kind for v in jira.violations] == ["field-shape"]


def test_agile_boards_sprints_and_moving_an_issue(
    jira: FakeJira, client: JiraClient, demo: dict[str, Any]
) -> None:
    boards = client.get("/rest/agile/1.0/board", params={"projectKeyOrId": "DEMO"}).json()
    assert sorted(b["type"] for b in boards["values"]) == ["kanban", "scrum"]
    scrum = client.get(
        "/rest/agile/1.0/board", params={"projectKeyOrId": "DEMO", "type": "scrum"}
    ).json()["values"]
    assert [b["id"] for b in scrum] == [demo["board_id"]]
    sprints = client.get(
        f"/rest/agile/1.0/board/{demo['board_id']}/sprint", params={"state": "active,future"}
    ).json()["values"]
    assert [(s["name"], s["state"]) for s in sprints] == [
        ("DEMO Sprint 2", "active"),
        ("DEMO Sprint 3", "future"),
    ]
    kanban = next(b for b in boards["values"] if b["type"] == "kanban")
    assert client.get(f"/rest/agile/1.0/board/{kanban['id']}/sprint").status_code == 400
    assert client.get("/rest/agile/1.0/board/99/sprint").status_code == 404
    create(client)
    future = demo["sprints"]["DEMO Sprint 3"]
    moved = client.post(f"/rest/agile/1.0/sprint/{future}/issue", json={"issues": ["DEMO-1"]})
    assert moved.status_code == 204
    assert jira.issue("DEMO-1").sprint_id == future
    closed = demo["sprints"]["DEMO Sprint 1"]
    refused = client.post(f"/rest/agile/1.0/sprint/{closed}/issue", json={"issues": ["DEMO-1"]})
    assert refused.status_code == 400
    assert jira.violations == []
