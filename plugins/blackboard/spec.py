"""What plugins hand the blackboard: artifact types, agents and their subscriptions.

Plugins import these from ``plugins.blackboard.spec`` and return them from the hooks declared
in :mod:`plugins.blackboard.hookspecs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma

#: An agent's answer: the artifacts it publishes, each ``{"type", "payload"}`` plus optional
#: ``tags``, ``visibility`` and ``partition_key``.
Outputs = list[dict[str, Any]]


@dataclass(frozen=True)
class ArtifactTypeSpec:
    """An artifact type contributed by a plugin: a name, a version and a marshmallow schema.

    The payload of an artifact of this type is loaded with ``schema`` before anything is
    stored; every error becomes one entry of the 422's ``errors``.
    """

    name: str
    schema: type[ma.Schema]
    version: int = 1
    description: str = ""


@dataclass(frozen=True)
class Subscription:
    """Which artifacts an agent consumes.

    ``types`` (any of), ``from_agents`` (producer any of; empty: anyone), ``tags`` (at least
    one in common; empty: any) and ``where``: a predicate on the payload — a callable for
    Python agents, a JSON Schema the payload must satisfy for HTTP agents.
    """

    types: Sequence[str]
    from_agents: Sequence[str] = ()
    tags: Sequence[str] = ()
    where: Callable[[dict[str, Any]], bool] | dict[str, Any] | None = None


@dataclass(frozen=True)
class AgentSpec:
    """A Python agent: ``consume(artifacts)`` gets the matched artifacts (dicts as the API
    shows them) and returns the artifacts to publish (:data:`Outputs`).

    ``labels`` and ``tenant_id`` decide which artifacts it may see (visibility).
    """

    name: str
    subscriptions: Sequence[Subscription]
    consume: Callable[[list[dict[str, Any]]], Outputs | None]
    labels: Sequence[str] = ()
    tenant_id: str | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
