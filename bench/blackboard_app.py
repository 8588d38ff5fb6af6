"""The benchmark's app: the blackboard with a 3-agent chain (task -> analysis -> design ->
verdict), three small pure functions that the benchmark also calls directly as its baseline."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from app import create_app
from app.hookspecs import hookimpl
from plugins.blackboard.spec import AgentSpec, ArtifactTypeSpec, Subscription


class Free(ma.Schema):
    """Any JSON object."""

    class Meta:
        unknown = ma.INCLUDE


def analyse(payload: dict[str, Any]) -> dict[str, Any]:
    """Agent 1's work."""
    return {"words": len(str(payload.get("text", "")).split())}


def design(payload: dict[str, Any]) -> dict[str, Any]:
    """Agent 2's work."""
    return {"parts": max(1, int(payload["words"]) // 2)}


def criticise(payload: dict[str, Any]) -> dict[str, Any]:
    """Agent 3's work."""
    return {"ok": int(payload["parts"]) < 100}


def _agent(out_type: str, work: Any) -> Any:
    def consume(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"type": out_type, "payload": work(artifacts[0]["payload"])}]

    return consume


class ChainPlugin:
    """The chain as a plugin object."""

    @hookimpl
    def junction_blackboard_artifact_types(self) -> list[ArtifactTypeSpec]:
        """Four free-form types."""
        return [ArtifactTypeSpec(n, Free) for n in ("task", "analysis", "design", "verdict")]

    @hookimpl
    def junction_blackboard_agents(self) -> list[AgentSpec]:
        """Three agents in a chain."""
        return [
            AgentSpec("analyst", [Subscription(types=["task"])], _agent("analysis", analyse)),
            AgentSpec("designer", [Subscription(types=["analysis"])], _agent("design", design)),
            AgentSpec("critic", [Subscription(types=["design"])], _agent("verdict", criticise)),
        ]


app = create_app(extra_plugins=[("bbbench", ChainPlugin())])
