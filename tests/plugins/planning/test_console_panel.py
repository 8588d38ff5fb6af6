"""The planning panel of the web console against the fake Plane: status, toggle, cycle picker,
import, sprint completion with its warnings, release notes rendered safely."""

from __future__ import annotations

import re
from typing import Any

from tests.plugins.planning.conftest import Planning
from tests.plugins.planning.test_complete_sprint import prepare

PANEL = "/console/planning/"
STATUS = "/api/planning/sync-status?project_name=demo"
JSON = {"X-Requested-With": "junction-console"}


def csrf(planning: Planning) -> str:
    html = planning.get(PANEL).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def act(planning: Planning, action: str, **form: str) -> Any:
    return planning.client.post(
        f"{PANEL}{action}", data={**form, "csrf_token": csrf(planning)}, headers=JSON
    )


def test_panel_shows_each_project_with_its_sync_state(planning: Planning) -> None:
    html = planning.get(PANEL).get_data(as_text=True)
    assert "demo" in html and "sync off" in html and "Turn sync on" in html
    assert "0 received" in html  # webhooks
    assert "No sprint of demo has been completed here yet." in html


def test_toggle_switches_the_sync_and_needs_csrf(planning: Planning) -> None:
    refused = planning.client.post(f"{PANEL}toggle", data={"project_name": "demo"})
    assert refused.status_code == 403
    assert planning.get(STATUS).get_json()["enabled"] is False
    answer = act(planning, "toggle", project_name="demo")
    assert answer.status_code == 200 and answer.get_json()["message"] == "Sync for demo is now on."
    assert planning.get(STATUS).get_json()["enabled"] is True
    assert "sync on" in planning.get(PANEL).get_data(as_text=True)
    unknown = act(planning, "toggle", project_name="nope")
    assert unknown.status_code == 404 and unknown.get_json()["ok"] is False


def test_cycle_picker_and_import(planning: Planning) -> None:
    cycle = planning.cycle("Sprint <b>7</b>")
    planning.item("Write the <script>docs</script>", cycle)
    html = planning.get(f"{PANEL}?cycles=demo").get_data(as_text=True)
    assert f'<option value="{cycle}"' in html
    assert "Sprint &lt;b&gt;7&lt;/b&gt;" in html and "<b>7</b>" not in html
    answer = act(planning, "import", project_name="demo", cycle_id=cycle)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message"].startswith("Imported cycle into demo: 1 new")
    features = planning.get("/api/projects/demo/features").get_json()["items"]
    assert [f["name"] for f in features] == ["Write the <script>docs</script>"]
    page = planning.get(PANEL).get_data(as_text=True)
    assert "Last sync</dt><dd>—" not in page  # the import recorded a sync


def test_complete_sprint_shows_result_warnings_and_safe_release_notes(planning: Planning) -> None:
    prepare(planning, ended=True)
    answer = act(planning, "complete", project_name="demo")
    assert answer.status_code == 200, answer.get_json()
    message = answer.get_json()["message"]
    assert "Sprint 5 of demo completed: tag sprint/sprint-5" in message
    assert "Warnings: " in message
    html = planning.get(PANEL).get_data(as_text=True)
    assert "sprint/sprint-5" in html and "Plane refuses edits to a cycle" in html
    assert "sprint-sprint-5.md" in html
    # A hostile note in releases/ is listed, and rendered escaped.
    notes = planning.project_path / "releases" / "sprint-evil.md"
    notes.write_text(
        "# Evil <script>alert(1)</script>\n\n- [x](javascript:alert(2))\n- **ok**\n"
        '<img src=x onerror="alert(3)">\n'
    )
    shown = planning.get(f"{PANEL}?notes=demo&file=sprint-evil.md").get_data(as_text=True)
    assert "<h1>Evil &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in shown
    assert "<strong>ok</strong>" in shown
    assert "<script>alert" not in shown and 'href="javascript' not in shown
    assert "<img src=x" not in shown
    traversal = planning.get(f"{PANEL}?notes=demo&file=../../etc/passwd").get_data(as_text=True)
    assert "plain name of a .md file" in traversal


def test_complete_sprint_failure_is_reported(planning: Planning) -> None:
    answer = act(planning, "complete", project_name="demo")
    assert answer.status_code == 400 and answer.get_json()["ok"] is False
    assert "No cycle_id given" in answer.get_json()["message"]
