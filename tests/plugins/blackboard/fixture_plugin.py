"""A test plugin for the blackboard: a marshmallow type and Python agents under test control.

``idea`` -> ``planner`` -> ``plan`` -> ``reviewer`` -> ``review``; ``slow`` consumes ``slow_task``
and blocks until the test releases it; ``loop`` makes a ``ping`` from every ``ping`` (a runaway
cascade for the limits); ``broken`` raises.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import marshmallow as ma

from app.hookspecs import hookimpl
from plugins.blackboard.spec import AgentSpec, ArtifactTypeSpec, Subscription

CALLS: Counter[str] = Counter()
RELEASE = threading.Event()
ENTERED = threading.Event()


class IdeaSchema(ma.Schema):
    """An idea: a title and a priority."""

    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1))
    priority = ma.fields.Integer(load_default=3, validate=ma.validate.Range(min=1, max=5))


class FreeSchema(ma.Schema):
    """Anything."""

    class Meta:
        unknown = ma.INCLUDE


def _planner(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    CALLS["planner"] += 1
    idea = artifacts[0]["payload"]
    return [{"type": "plan", "payload": {"steps": [f"do {idea['title']}"]}, "tags": ["planned"]}]


def _reviewer(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    CALLS["reviewer"] += 1
    return [{"type": "review", "payload": {"ok": True, "of": artifacts[0]["id"]}}]


def _slow(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    CALLS["slow"] += 1
    ENTERED.set()
    RELEASE.wait(60)
    return [{"type": "review", "payload": {"ok": True, "slow": True}}]


def _loop(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    CALLS["loop"] += 1
    n = int(artifacts[0]["payload"].get("n", 0))
    return [{"type": "pong", "payload": {"n": n + 1}}]


def _echo(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    CALLS["echo"] += 1
    n = int(artifacts[0]["payload"].get("n", 0))
    return [{"type": "ping", "payload": {"n": n + 1}}]


def _broken(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    CALLS["broken"] += 1
    raise RuntimeError("broken agent")


def _secret_reader(artifacts: list[dict[str, Any]]) -> None:
    CALLS["secret_reader"] += 1
    return None


@hookimpl
def junction_blackboard_artifact_types() -> list[ArtifactTypeSpec]:
    """The test types."""
    return [
        ArtifactTypeSpec("idea", IdeaSchema, description="An idea."),
        ArtifactTypeSpec("plan", FreeSchema),
        ArtifactTypeSpec("review", FreeSchema),
        ArtifactTypeSpec("slow_task", FreeSchema),
        ArtifactTypeSpec("ping", FreeSchema),
        ArtifactTypeSpec("pong", FreeSchema),
        ArtifactTypeSpec("crash", FreeSchema),
        ArtifactTypeSpec("secret_note", FreeSchema),
    ]


@hookimpl
def junction_blackboard_agents() -> list[AgentSpec]:
    """The test agents."""
    return [
        AgentSpec("planner", [Subscription(types=["idea"])], _planner),
        AgentSpec("reviewer", [Subscription(types=["plan"], from_agents=["planner"])], _reviewer),
        AgentSpec("slow", [Subscription(types=["slow_task"])], _slow),
        AgentSpec("loop", [Subscription(types=["ping"])], _loop),
        AgentSpec("echo", [Subscription(types=["pong"])], _echo),
        AgentSpec("broken", [Subscription(types=["crash"])], _broken),
        AgentSpec(
            "secret_reader",
            [Subscription(types=["secret_note"], where=lambda p: p.get("level", 0) >= 1)],
            _secret_reader,
            labels=["clearance"],
            tenant_id="acme",
        ),
    ]
