"""The ``echo`` team: deterministic and instant, configurable to fail at step N (tests, demos)."""

from __future__ import annotations

from typing import Any

from plugins.agents.teams import Step, StepContext, StepFailed, TaskView


class EchoTeam:
    """Plans ``steps`` steps; each logs its message and records a metric; fails at ``fail_at``."""

    name = "echo"
    description = "Deterministic, instant steps that echo a message; can fail at step N."
    config_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "steps": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 3},
            "fail_at": {"type": ["integer", "null"], "minimum": 1},
            "message": {"type": "string", "maxLength": 1000},
        },
    }

    def plan(self, task: TaskView) -> list[Step]:
        """``steps`` steps ``echo-1``..``echo-N`` (safe to repeat: they touch nothing)."""
        count = int(task.config.get("steps", 3))
        message = str(task.config.get("message") or task.name)
        return [
            Step(f"echo-{i}", f"Echo {i}/{count}", {"index": i, "message": message}, True)
            for i in range(1, count + 1)
        ]

    def execute(self, step: Step, context: StepContext) -> dict[str, Any]:
        """Log the message; fail when this is step ``fail_at``."""
        index = int(step.spec["index"])
        context.log(f"{step.spec['message']} ({index})")
        context.metric("echo_steps", 1, "count")
        if context.config.get("fail_at") == index:
            raise StepFailed(f"echo: failing at step {index} as configured")
        return {"echoed": step.spec["message"], "index": index}
