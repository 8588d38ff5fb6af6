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


# -- errors: one JSON problem on stderr, exit 1 (issue 8, point 10) --------------------------------


def problem(code: int, err: str) -> dict:
    """The command failed the documented way: exit 1 and a JSON problem as the last line of
    stderr (a progress bar's label may come before it)."""
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    document = json.loads(lines[-1])
    assert all(not line.startswith("{") for line in lines[:-1]), err
    assert {"type", "title", "status", "detail", "code"} <= set(document)
    return document


def test_service_errors_are_json_problems(planning: Planning) -> None:
    planning.post("/api/planning/config", {"planning_api_key": "plane_api_" + "3" * 32})
    code, out, err = invoke(planning, "cycles", "--project", "demo")
    found = problem(code, err)
    assert (found["status"], found["code"]) == (401, "PLANNING_AUTH") and out == ""
    assert "Traceback" not in err

    found = problem(*invoke(planning, "import-cycle", "--project", "nope", "x")[::2])
    assert found["status"] == 404

    found = problem(*invoke(planning, "import-cycle", "--project", "demo", "../users/me")[::2])
    assert (found["status"], found["code"]) == (400, "PLANNING_INVALID_ID")


def test_the_commands_own_failures_are_json_problems(planning: Planning, tmp_path: Path) -> None:
    found = problem(*invoke(planning, "config", "set", "poll_interval=1")[::2])
    assert found["code"] == "VALIDATION_ERROR" and found["status"] in {400, 422}
    assert [e["field"] for e in found["errors"]] == ["planning_poll_interval"]
    assert "{" not in found["detail"]  # a sentence, not a Python or JSON dict

    found = problem(*invoke(planning, "config", "set", "poll_interval")[::2])
    assert found["code"] == "INVALID_ASSIGNMENT" and "KEY=VALUE" in found["detail"]

    found = problem(*invoke(planning, "marqed-import", str(tmp_path / "missing"))[::2])
    assert found["status"] in {400, 422}
    assert any("not a directory" in e["message"] for e in found["errors"])

    # Usage errors stay click's: usage text and exit 2.
    code, _, err = invoke(planning, "import-cycle", "x")
    assert code == 2 and "Missing option '--project'" in err
