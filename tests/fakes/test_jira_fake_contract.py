"""The fake Jira's contract checks (the pinned Atlassian documents, patched where they are
wrong), its extra endpoints, and the fake run by hand (``python -m tests.fakes.jira --port 0``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
import requests

from tests.fakes.conftest import JiraClient
from tests.fakes.jira import FakeJira, spec
from tests.fakes.jira.server import ROUTES
from tests.fakes.test_jira_fake import P, create
from tests.support import ROOT


def test_the_fake_jira_serves_the_demo_site_as_a_real_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.jira", "--port", "0", "--seed", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        # The first line is written once the server listens (blocking read: no sleeping).
        info = json.loads(process.stdout.readline())
        auth = (info["email"], info["token"])
        me = requests.get(f"{info['url']}/rest/api/3/myself", auth=auth, timeout=10)
        assert me.status_code == 200 and me.json()["emailAddress"] == info["email"]
        sprints = requests.get(
            f"{info['url']}/rest/agile/1.0/board/{info['board_id']}/sprint",
            params={"state": "active,future"},
            auth=auth,
            timeout=10,
        )
        assert [s["name"] for s in sprints.json()["values"]] == ["DEMO Sprint 2", "DEMO Sprint 3"]
        wrong = requests.get(f"{info['url']}/rest/api/3/myself", auth=("x@y.z", "no"), timeout=10)
        assert wrong.status_code == 401
        hidden = requests.get(
            f"{info['url']}/rest/api/3/project/{info['hidden_project_key']}", auth=auth, timeout=10
        )
        assert hidden.status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()


def test_the_vendored_documents_are_the_pinned_versions() -> None:
    assert spec.spec_versions() == {
        "platform": "1001.0.0-SNAPSHOT-57a0ca5b4a0bb0ac5f3fee4764acb1c14e4d7e71",
        "agile": "1001.0.0",
    }
    # The ADF schema is the draft-04 one of @atlaskit/adf-schema (full.json).
    assert spec.adf_validator().schema["$ref"] == "#/definitions/doc_node"


def test_patched_defects_accept_what_jira_accepts_and_nothing_more() -> None:
    # Agile ``state``/``type`` are strings (declared as objects in the document).
    spec.check_request("GET", "/rest/agile/1.0/board/1/sprint", [("state", "active,future")],
                       {}, b"", None)  # fmt: skip
    spec.check_request("GET", "/rest/agile/1.0/board", [("type", "scrum")], {}, b"", None)
    # Several ``file`` parts are one valid upload; another part name is not.
    files = [("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))]
    upload = requests.Request("POST", "http://x/", files=files).prepare()
    assert isinstance(upload.body, bytes)
    path = "/rest/api/3/issue/A-1/attachments"
    content_type = upload.headers["Content-Type"]
    spec.check_request("POST", path, [], {}, upload.body, content_type)
    other = requests.Request("POST", "http://x/", files={"doc": ("a", b"a")}).prepare()
    assert isinstance(other.body, bytes)
    with pytest.raises(spec.ContractError) as refused:
        spec.check_request("POST", path, [], {}, other.body, other.headers["Content-Type"])
    assert refused.value.kind == "openapi"


def test_every_route_of_the_fake_is_a_documented_operation() -> None:
    documented: list[tuple[str, str]] = []
    for document in spec.documents().values():
        for template, operations in document["paths"].items():
            sample = re.sub(r"\{[^}]+\}", "10001", template)
            documented.extend((method.upper(), sample) for method in operations)
    for method, pattern, view in ROUTES:
        assert any(m == method and pattern.match(path) for m, path in documented), view.__name__


def test_malformed_requests_are_refused_and_recorded(jira: FakeJira, client: JiraClient) -> None:
    wrong_type = client.post(f"{P}/issue", json={"fields": "summary"})
    assert wrong_type.status_code == 400
    assert "'summary' is not of type 'object'" in wrong_type.json()["errorMessages"][0]
    bad_properties = client.post(
        f"{P}/issue",
        json={
            "fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Task"}, "summary": "x"},
            "properties": [{"name": "junction", "value": 1}],
        },
    )
    assert bad_properties.status_code == 400
    as_text = client.post(f"{P}/issue", data=b"{}", headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 415
    not_json = client.post(
        f"{P}/issue", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    unknown = client.get(f"{P}/no/such/thing")
    assert unknown.status_code == 404
    removed = client.get(f"{P}/search", params={"jql": "project = DEMO"})
    assert removed.status_code == 410
    assert "CHANGE-2046" in removed.json()["errorMessages"][0]
    kinds = ["openapi", "openapi", "openapi", "json", "unknown-endpoint", "removed"]
    assert [v.kind for v in jira.violations] == kinds


def test_a_documented_endpoint_the_fake_lacks_is_flagged(
    jira: FakeJira, client: JiraClient
) -> None:
    answer = client.get(f"{P}/serverInfo")
    assert answer.status_code == 501
    assert [v.kind for v in jira.violations] == ["unimplemented"]


def test_fields_and_reassigning(jira: FakeJira, client: JiraClient, demo: dict) -> None:
    fields = client.get(f"{P}/field").json()
    sprint = next(f for f in fields if f["schema"].get("custom", "").endswith(":gh-sprint"))
    assert sprint["id"] == "customfield_10020"
    create(client)
    bob = demo["users"]["bob@example.com"]
    url = f"{P}/issue/DEMO-1/assignee"
    assert client.put(url, json={"accountId": bob}).status_code == 204
    assert jira.issue("DEMO-1").fields["assignee"] == bob
    assert client.put(url, json={"accountId": None}).status_code == 204
    assert jira.issue("DEMO-1").fields["assignee"] is None
    outsider = demo["users"][demo["unassignable_user"]]
    assert client.put(url, json={"accountId": outsider}).status_code == 400
    assert jira.violations == []
