"""An agent team for the ``agents`` plugin: greets everyone named in the task's config.

A team is any object with ``name``, ``description``, ``config_schema`` (JSON Schema of the
task's ``config``), ``plan(task)`` and ``execute(step, context)``; see docs/agents.md.
"""

from __future__ import annotations

from typing import Any


class GreeterTeam:
    """One step per name; each logs a greeting and counts it as a metric."""

    name = "hello"
    description = "Greets every name of the task's config, one step each."
    config_schema: dict[str, Any] = {
        "type": "object",
        "required": ["names"],
        "additionalProperties": False,
        "properties": {
            "names": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "greeting": {"type": "string", "default": "Hello, {name}!"},
        },
    }

    def plan(self, task: Any) -> list[Any]:
        """A step per name; greeting twice does no harm, so steps are repeatable."""
        from plugins.agents.teams import Step

        template = task.config.get("greeting", "Hello, {name}!")
        return [
            Step(f"greet-{i}", f"Greet {name}", {"text": template.format(name=name)}, True)
            for i, name in enumerate(task.config["names"], start=1)
        ]

    def execute(self, step: Any, context: Any) -> dict[str, Any]:
        """Log the greeting, record a metric, stop early when the run was cancelled."""
        context.raise_if_cancelled()
        context.log(step.spec["text"])
        context.metric("greetings", 1, "count")
        return {"said": step.spec["text"]}
