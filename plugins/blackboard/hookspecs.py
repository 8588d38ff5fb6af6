"""Hooks the blackboard plugin offers other plugins (added through ``junction_addhooks``)."""

from __future__ import annotations

from collections.abc import Sequence

from app.hookspecs import hookspec
from plugins.blackboard.spec import AgentSpec, ArtifactTypeSpec


@hookspec
def junction_blackboard_artifact_types() -> Sequence[ArtifactTypeSpec] | None:
    """Return the artifact types this plugin contributes (``ArtifactTypeSpec`` objects).

    Each is a name, a version and a marshmallow schema that validates payloads before they are
    stored. A name taken by another plugin keeps its first owner (the duplicate is logged).
    """


@hookspec
def junction_blackboard_agents() -> Sequence[AgentSpec] | None:
    """Return the Python agents this plugin contributes (``AgentSpec`` objects).

    An agent subscribes to artifact types; the cascade calls its ``consume`` once per matched
    artifact on the operation runners and publishes what it returns in the same correlation.
    """
