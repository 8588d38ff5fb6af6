"""The fake Jira's time-driven behaviour and injected faults: rate limits, the lagging search,
lost answers after a create, 503 bursts, revoked tokens, a project or issue type removed."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.fakes.conftest import JiraClient
from tests.fakes.jira import FakeJira, ManualClock
from tests.fakes.test_jira_fake import P, create

SEARCH = f"{P}/search/jql"


def search(client: JiraClient, jql: str, **extra: Any) -> requests.Response:
    """POST /search/jql."""
    return client.post(SEARCH, json={"jql": jql, **extra})


def test_rate_limit_is_a_token_bucket_on_the_clock(
    jira: FakeJira, jira_clock: ManualClock, client: JiraClient
) -> None:
    jira.set_rate_limit(3, per_second=0.5)
    answers = [client.get(f"{P}/myself") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    refused = answers[3]
    assert refused.headers["Retry-After"] == "2"  # one token per 2 s
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", refused.headers["X-RateLimit-Reset"])
    assert refused.headers["X-RateLimit-NearLimit"] == "true"
    assert refused.json()["errorMessages"] == ["Rate limit exceeded."]
    # A refused request is not processed: no issue is created while limited.
    assert create(client).status_code == 429 and jira.issues() == []
    jira_clock.advance(2)
    assert client.get(f"{P}/myself").status_code == 200
    assert client.get(f"{P}/myself").status_code == 429
    jira.set_rate_limit(None)
    assert client.get(f"{P}/myself").status_code == 200


def test_search_lags_behind_creates_by_searches(jira: FakeJira, client: JiraClient) -> None:
    jira.set_search_lag(seconds=None, searches=2)
    create(client, labels=["junction-s1-t1"])
    jql = 'project = DEMO AND labels = "junction-s1-t1"'
    found = [search(client, jql).json()["issues"] for _ in range(3)]
    assert found[:2] == [[], []]
    assert found[2] == [{"id": jira.issue("DEMO-1").id}]  # default fields: the id only
    by_get = client.get(SEARCH, params={"jql": jql, "fields": "summary,labels"}).json()
    assert [i["fields"]["labels"] for i in by_get["issues"]] == [["junction-s1-t1"]]


def test_search_lags_behind_creates_by_time(
    jira: FakeJira, jira_clock: ManualClock, client: JiraClient
) -> None:
    jira.set_search_lag(seconds=5, searches=None)
    created = create(client, labels=["junction-s1-t1"]).json()
    jql = "labels in (junction-s1-t1, other) ORDER BY created DESC"
    for _ in range(4):
        assert search(client, jql).json()["issues"] == []
    # ``reconcileIssues`` gives read-after-write for ids the client knows.
    known = search(client, jql, reconcileIssues=[int(created["id"])]).json()["issues"]
    assert [i["id"] for i in known] == [created["id"]]
    jira_clock.advance(5)
    hits = search(client, jql, fields=["summary", "labels"], properties=["junction"]).json()
    assert [(i["key"], i["fields"]["labels"]) for i in hits["issues"]] == [
        ("DEMO-1", ["junction-s1-t1"])
    ]
    assert hits["isLast"] is True


def test_search_pages_and_refuses_what_jira_refuses(jira: FakeJira, client: JiraClient) -> None:
    jira.set_search_lag(seconds=0, searches=0)
    for number in range(3):
        create(client, summary=f"T{number}", labels=["run-1"])
    jql = "project = demo AND labels = run-1 ORDER BY key"
    first = search(client, jql, maxResults=2).json()
    assert len(first["issues"]) == 2 and first["isLast"] is False
    rest = search(client, jql, nextPageToken=first["nextPageToken"]).json()
    assert len(rest["issues"]) == 1 and rest["isLast"] is True
    paged = [i["id"] for i in first["issues"] + rest["issues"]]
    assert paged == [i.id for i in jira.issues()]  # ORDER BY key (ascending)
    other = search(client, "labels = run-1", nextPageToken=first["nextPageToken"])
    assert other.status_code == 400  # a token belongs to its query
    assert search(client, "ORDER BY created DESC").status_code == 400  # unbounded
    assert search(client, "colour = red").status_code == 400
    hidden = search(client, "project = SECRET")
    assert hidden.json()["errorMessages"] == [
        "The value 'SECRET' does not exist for the field 'project'."
    ]
    # Properties are not searchable unless an app indexed them (a basic-auth client cannot).
    assert search(client, 'issue.property[junction].ticket = "t1"').status_code == 400
    assert jira.violations == []
    # ``startAt`` is gone from the new search (additionalProperties: false).
    legacy = search(client, "labels = run-1", startAt=0)
    assert legacy.status_code == 400
    assert [v.kind for v in jira.violations] == ["openapi"]


def test_answer_lost_by_a_reset_after_the_create_succeeded(
    jira: FakeJira, client: JiraClient
) -> None:
    jira.faults.lose_answer("reset")
    with pytest.raises(requests.ConnectionError):
        create(client, labels=["junction-s1-t1"])
    # The issue exists although the client never heard of it.
    assert [i.key for i in jira.issues()] == ["DEMO-1"]
    assert jira.calls_to("POST", r"/issue$")[-1].status == 0
    assert create(client).status_code == 201  # one shot only
    assert jira.label_counts("junction-") == {"junction-s1-t1": 1}


def test_answer_lost_by_a_timeout_after_the_create_succeeded(
    jira: FakeJira, client: JiraClient
) -> None:
    jira.faults.lose_answer("timeout", skip=1)
    assert create(client, summary="first").status_code == 201
    with pytest.raises(requests.ReadTimeout):
        create(client, summary="second", timeout=0.5)
    assert jira.faults.holding.is_set()
    assert [i.fields["summary"] for i in jira.issues()] == ["first", "second"]
    jira.faults.release_held()


def test_a_5xx_after_the_create_succeeded(jira: FakeJira, client: JiraClient) -> None:
    jira.faults.lose_answer("error", status=504)
    answer = create(client)
    assert answer.status_code == 504
    assert [i.key for i in jira.issues()] == ["DEMO-1"]  # done all the same
    assert jira.calls_to("POST", r"/issue$")[-1].status == 504


def test_503_bursts_are_not_processed(jira: FakeJira, client: JiraClient) -> None:
    jira.faults.burst(2, 503, method="POST", path=r"/issue$", retry_after=3)
    answers = [create(client) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 201]
    assert answers[0].headers["Retry-After"] == "3"
    assert [i.key for i in jira.issues()] == ["DEMO-1"]
    assert client.get(f"{P}/myself").status_code == 200  # other paths untouched


def test_connections_dropped_before_any_work_and_jira_down(
    jira: FakeJira, client: JiraClient
) -> None:
    jira.faults.drop(1, method="POST")
    with pytest.raises(requests.ConnectionError):
        create(client)
    assert jira.issues() == []
    jira.down = True
    with pytest.raises(requests.ConnectionError):
        client.get(f"{P}/myself")
    jira.down = False
    assert client.get(f"{P}/myself").status_code == 200


def test_token_revoked_mid_export(jira: FakeJira, client: JiraClient) -> None:
    jira.faults.revoke_token_after(2)
    assert [create(client).status_code for _ in range(4)] == [201, 201, 401, 401]
    assert client.get(f"{P}/myself").status_code == 401
    assert len(jira.issues()) == 2


def test_revoking_a_token_or_a_permission(jira: FakeJira, client: JiraClient) -> None:
    jira.revoke_permission("DEMO", "CREATE_ISSUES")
    refused = create(client)
    assert refused.status_code == 403
    assert refused.json()["errorMessages"] == [
        "You do not have permission to create issues in this project."
    ]
    jira.grant("DEMO", jira.email)
    assert create(client).status_code == 201
    jira.revoke_permission("DEMO", "CREATE_ATTACHMENTS")
    upload = client.post(
        f"{P}/issue/DEMO-1/attachments",
        files={"file": ("a.txt", b"a", "text/plain")},
        headers={"X-Atlassian-Token": "no-check"},
    )
    assert upload.status_code == 403
    jira.revoke_token()
    assert client.get(f"{P}/myself").status_code == 401


def test_project_deleted_after_a_create(jira: FakeJira, client: JiraClient) -> None:
    jira.faults.after_creates(1, lambda: jira.delete_project("DEMO"))
    assert create(client).status_code == 201
    gone = create(client)
    assert gone.status_code == 400
    assert gone.json()["errors"] == {"project": "Specify a valid project ID or key"}
    assert client.get(f"{P}/project/DEMO").status_code == 404
    assert client.get(f"{P}/issue/DEMO-1").status_code == 404


def test_issue_type_removed_after_a_create(jira: FakeJira, client: JiraClient) -> None:
    jira.faults.after_creates(1, lambda: jira.remove_issue_type("DEMO", "Task"))
    assert create(client).status_code == 201
    gone = create(client)
    assert gone.status_code == 400
    assert gone.json()["errors"] == {"issuetype": "Specify a valid issue type"}
    types = client.get(f"{P}/issue/createmeta/DEMO/issuetypes").json()["issueTypes"]
    assert "Task" not in {t["name"] for t in types}


def test_calls_are_recorded_with_their_bodies(jira: FakeJira, client: JiraClient) -> None:
    create(client)
    create(client)
    body = {
        "type": {"name": "Blocks"},
        "inwardIssue": {"key": "DEMO-2"},
        "outwardIssue": {"key": "DEMO-1"},
    }
    client.post(f"{P}/issueLink", json=body)
    (call,) = jira.calls_to("POST", r"/issueLink$")
    assert (call.status, call.body, call.account_id) == (201, body, jira.account_id)
    assert jira.blocks() == [("DEMO-2", "DEMO-1")]
    assert jira.creates == 2
