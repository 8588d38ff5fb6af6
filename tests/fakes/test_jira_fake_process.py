"""The fake Jira runs by hand (``python -m tests.fakes.jira --port 0``) and its documents are
the pinned Atlassian ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.fakes.jira import spec
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
