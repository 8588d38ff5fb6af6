"""``junction blackboard ...``."""

from __future__ import annotations

import json
from typing import Any

from app.testing import invoke


def test_cli_types_agents_set_correlation(junction_runner: Any) -> None:
    types = invoke(junction_runner, "blackboard", "types")
    assert types.exit_code == 0 and "idea" in {t["name"] for t in json.loads(types.output)}
    agents = invoke(junction_runner, "blackboard", "agents")
    assert "planner" in {a["name"] for a in json.loads(agents.output)}
    changed = invoke(junction_runner, "blackboard", "set", "max_depth=3")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.output)["max_depth"] == 3
    bad = invoke(junction_runner, "blackboard", "set", "nope=1")
    assert bad.exit_code == 1
    status = invoke(junction_runner, "blackboard", "correlation", "abc")
    assert json.loads(status.output)["state"] == "not_found"
