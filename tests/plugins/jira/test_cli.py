"""``junction jira ...`` commands: JSON on stdout, problems on stderr with exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

from app.testing import invoke
from tests.plugins.jira.conftest import Env


def test_cli_commands(env: Env, tmp_path: Path) -> None:
    runner = env.app.test_cli_runner()
    ok = invoke(runner, "jira", "test-connection")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    valid = invoke(runner, "jira", "validate-project", "DEMO", "--requires-sprint")
    assert json.loads(valid.stdout)["validation_status"] == "valid"
    page = tmp_path / "t.html"
    page.write_text("<h1>T</h1><p>x <b>y</b></p>", encoding="utf-8")
    adf = json.loads(invoke(runner, "jira", "adf", str(page)).stdout)
    assert adf["adf"]["content"][0]["type"] == "heading"
    sid = env.session([{"title": "A"}, {"title": "B", "dependencies": [0]}])["id"]
    started = invoke(runner, "jira", "export", sid)
    assert started.exit_code == 0, started.output
    assert json.loads(started.stdout)["total_tickets"] == 2
    env.run()
    results = json.loads(invoke(runner, "jira", "results", sid).stdout)
    assert results["total_tickets_created"] == 2 and results["dependencies_created"] == 1
    refused = invoke(runner, "jira", "retry", sid)
    assert refused.exit_code == 1
    assert json.loads(refused.stderr)["code"] == "JIRA_NOT_FAILED"
