"""``flask planning ...`` commands against the fake Plane."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.marqed_tree import make_tree
from tests.plugins.planning.conftest import Planning


def invoke(planning: Planning, *args: str) -> tuple[int, str, str]:
    result = planning.app.test_cli_runner().invoke(args=["junction", "planning", *args])
    return result.exit_code, result.stdout, result.stderr


def test_config_show_and_set(planning: Planning) -> None:
    code, out, _ = invoke(planning, "config", "show", "--project", "demo")
    assert code == 0
    shown = json.loads(out)
    assert shown["planning_project_id"] == planning.plane_project
    assert planning.fake.api_key not in out and shown["planning_api_key_set"] is True

    code, out, _ = invoke(
        planning, "config", "set", "--project", "demo", "poll_interval=45", "sync_enabled=true"
    )
    assert code == 0, out
    after = planning.get("/api/planning/config?project_name=demo").get_json()
    assert (after["planning_poll_interval"], after["planning_sync_enabled"]) == (45, True)

    code, _, err = invoke(planning, "config", "set", "poll_interval=1")
    assert code != 0 and "planning_poll_interval" in err


def test_connection_and_cycles(planning: Planning) -> None:
    code, out, _ = invoke(planning, "test-connection", "--project", "demo")
    assert code == 0 and json.loads(out)["status"] == "ok"
    cycle = planning.cycle("Sprint 9")
    code, out, _ = invoke(planning, "cycles", "--project", "demo")
    assert code == 0
    assert cycle in out and "current" in out and "Sprint 9" in out

    planning.post("/api/planning/config", {"planning_api_key": "plane_api_" + "3" * 32})
    code, out, _ = invoke(planning, "test-connection", "--project", "demo")
    assert code == 1 and json.loads(out)["message"] == "Invalid API key"
    code, _, err = invoke(planning, "cycles", "--project", "demo")
    assert code == 1 and "401" in err


def test_import_cycle(planning: Planning) -> None:
    cycle = planning.cycle("Sprint 9")
    for index in range(120):
        planning.item(f"Item {index}", cycle)
    code, out, err = invoke(planning, "import-cycle", "--project", "demo", cycle)
    assert code == 0, err
    assert json.loads(out)["imported"] == 120
    assert "imported 120, updated 0, skipped 0" in err
    assert "Fetching work items" in err  # the progress bar


def test_marqed_import(planning: Planning, tmp_path: Path) -> None:
    make_tree(tmp_path / "tree", epics=1, features=2, stories=2, tasks=2)
    code, out, err = invoke(planning, "marqed-import", str(tmp_path / "tree"), "--project", "demo")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["created"] == 7 and summary["modules_created"] == 1
    assert "created 7 (1 modules, 6 work items)" in err

    (tmp_path / "bad").mkdir()
    code, _, err = invoke(planning, "marqed-import", str(tmp_path / "bad"), "--project", "demo")
    assert code == 1 and "no epics/ or features/ folder" in err
