"""The per-app registry of what plugins contribute: artifact types and Python agents."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from app.state import junction_state
from plugins.blackboard.spec import AgentSpec, ArtifactTypeSpec

log = logging.getLogger(__name__)

EXTENSION = "blackboard"


@dataclass
class BlackboardRegistry:
    """Plugin-contributed types (``{name: spec}``) and Python agents (``{name: spec}``)."""

    types: dict[str, ArtifactTypeSpec] = field(default_factory=dict)
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    # Compiled validators of run-time types by (name, version): types are immutable.
    validators: dict[tuple[str, int], Any] = field(default_factory=dict)


def registry(app: Flask | None = None) -> BlackboardRegistry:
    """The blackboard registry of ``app`` (default: the current app)."""
    target = app or current_app
    found = target.extensions.get(EXTENSION)
    if found is None:
        found = target.extensions[EXTENSION] = BlackboardRegistry()
    return found


def add_type(app: Flask, spec: ArtifactTypeSpec) -> None:
    """Register a plugin type on ``app`` (the first owner of a name keeps it)."""
    types = registry(app).types
    if spec.name in types:
        log.error("blackboard: artifact type %r is declared twice; keeping the first", spec.name)
        return
    types[spec.name] = spec


def add_agent(app: Flask, spec: AgentSpec) -> None:
    """Register a Python agent on ``app`` (tests and embedding; plugins use the hook)."""
    agents = registry(app).agents
    if spec.name in agents:
        log.error("blackboard: agent %r is declared twice; keeping the first", spec.name)
        return
    agents[spec.name] = spec


def collect(app: Flask) -> None:
    """Ask every plugin for its types and agents (a plugin that raises is failed by the core)."""
    plugins = junction_state(app).registry
    for _, declared in plugins.call_each("junction_blackboard_artifact_types"):
        for spec in declared:
            add_type(app, spec)
    for _, declared in plugins.call_each("junction_blackboard_agents"):
        for spec in declared:
            add_agent(app, spec)
