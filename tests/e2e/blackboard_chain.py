"""A test plugin for the blackboard's crash tests: a ping-pong chain with an external log.

``ping`` -> agent ``a`` -> ``pong`` -> agent ``b`` -> ``ping`` (n + 1) until ``n`` reaches
``BB_CHAIN_LENGTH``. Every call appends ``<agent> <artifact id>`` to ``BB_CALL_LOG`` (the
external side effect). With ``BB_HANG_AT=n`` agent ``b`` hangs after logging its call for the
``pong`` numbered ``n``: the runner is then inside a consumption, its outputs not recorded.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import marshmallow as ma

from app.hookspecs import hookimpl
from plugins.blackboard.spec import AgentSpec, ArtifactTypeSpec, Subscription


class NumberSchema(ma.Schema):
    """``{"n": int}``."""

    n = ma.fields.Integer(required=True)


def _log(agent: str, artifact: dict[str, Any]) -> None:
    with open(os.environ["BB_CALL_LOG"], "a") as handle:
        handle.write(f"{agent} {artifact['id']} {artifact['payload']['n']}\n")
        handle.flush()
        os.fsync(handle.fileno())


def _a(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _log("a", artifacts[0])
    return [{"type": "pong", "payload": {"n": artifacts[0]["payload"]["n"]}}]


def _b(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _log("b", artifacts[0])
    n = artifacts[0]["payload"]["n"]
    if os.environ.get("BB_HANG_AT") == str(n):
        threading.Event().wait()  # killed here
    if n + 1 >= int(os.environ.get("BB_CHAIN_LENGTH", "6")):
        return []
    return [{"type": "ping", "payload": {"n": n + 1}}]


@hookimpl
def junction_blackboard_artifact_types() -> list[ArtifactTypeSpec]:
    """``ping`` and ``pong``."""
    return [ArtifactTypeSpec("ping", NumberSchema), ArtifactTypeSpec("pong", NumberSchema)]


@hookimpl
def junction_blackboard_agents() -> list[AgentSpec]:
    """Agents ``a`` and ``b``."""
    return [
        AgentSpec("a", [Subscription(types=["ping"])], _a),
        AgentSpec("b", [Subscription(types=["pong"])], _b),
    ]
