"""Example plugin for the blackboard: ``feature_request`` -> ``plan`` -> ``review``.

- the types ``feature_request``, ``plan`` and ``review`` (marshmallow schemas);
- ``planner``, a Python agent: a feature request becomes a plan;
- ``reviewer``, an HTTP agent (see :mod:`blackboard_demo.reviewer`): a plan becomes a review.
  Run it with ``python -m blackboard_demo.reviewer --port 8765 --secret ...`` and register it
  with ``POST /api/v1/agents`` (docs/blackboard.md shows the call).

One ``POST /api/v1/artifacts/sync`` with a ``feature_request`` answers all three artifacts.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.hookspecs import hookimpl
from plugins.blackboard.spec import AgentSpec, ArtifactTypeSpec, Subscription

__version__ = "0.1.0"


class FeatureRequestSchema(ma.Schema):
    """What a user asks for."""

    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(load_default="")


class PlanSchema(ma.Schema):
    """How to build it."""

    feature = ma.fields.String(required=True)
    steps = ma.fields.List(ma.fields.String(), required=True)


class ReviewSchema(ma.Schema):
    """What a reviewer thinks of the plan."""

    approved = ma.fields.Boolean(required=True)
    comments = ma.fields.List(ma.fields.String(), load_default=list)


def plan_feature(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The planner: one plan per feature request."""
    request = artifacts[0]["payload"]
    steps = [f"design {request['title']}", f"build {request['title']}", "test it"]
    return [{"type": "plan", "payload": {"feature": request["title"], "steps": steps}}]


def review_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The reviewer's judgement (the HTTP agent calls this; the benchmark too)."""
    steps = plan.get("steps") or []
    approved = any("test" in step for step in steps)
    comments = [] if approved else ["add a testing step"]
    return {"approved": approved, "comments": comments}


@hookimpl
def junction_blackboard_artifact_types() -> list[ArtifactTypeSpec]:
    """``feature_request``, ``plan`` and ``review``."""
    return [
        ArtifactTypeSpec("feature_request", FeatureRequestSchema, description="A feature ask."),
        ArtifactTypeSpec("plan", PlanSchema, description="Steps to build a feature."),
        ArtifactTypeSpec("review", ReviewSchema, description="A review of a plan."),
    ]


@hookimpl
def junction_blackboard_agents() -> list[AgentSpec]:
    """The Python agent ``planner`` (the reviewer is an HTTP agent, registered at run time)."""
    return [
        AgentSpec(
            "planner",
            [Subscription(types=["feature_request"])],
            plan_feature,
            description="Turns a feature request into a plan.",
        )
    ]
