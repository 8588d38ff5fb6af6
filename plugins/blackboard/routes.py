"""HTTP routes of the blackboard plugin (``/api/v1``): parse, call the service, respond."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import Blueprint

from app.idempotency import HEADER, LEGACY_HEADER, InvalidKey, idempotent, parse_key
from plugins.blackboard import agents, artifact_types, queries, runs, sync
from plugins.blackboard import artifacts as board
from plugins.blackboard import schemas as s

blp = Blueprint(
    "blackboard",
    __name__,
    url_prefix="/api/v1",
    description="Blackboard: typed artifacts, agents subscribed by type, synchronous publish.",
)


def _dedupe() -> str | None:
    """Caller, endpoint and idempotency key of this request (``None`` without a key)."""
    raw = request.headers.get(HEADER) or request.headers.get(LEGACY_HEADER)
    if not raw:
        return None
    try:
        key = parse_key(raw)
    except InvalidKey:  # the idempotency layer answered 400 before the view ran
        return None
    return f"{g.get('caller') or 'anonymous'}\n{request.endpoint}\n{key}"


# -- artifact types -----------------------------------------------------------------------------


@blp.post("/artifact-types")
@blp.arguments(s.TypeCreateSchema)
@blp.response(201, s.TypeSchema)
@blp.alt_response(409, schema="Problem", description="The name or version exists already.")
def create_type(body: dict[str, Any]) -> dict[str, Any]:
    """Register an artifact type at run time from a JSON Schema (checked to be valid)."""
    info = artifact_types.register_type(
        body["name"], body["schema"], body.get("version"), body.get("description")
    )
    return info.public()


@blp.get("/artifact-types")
@blp.response(200, s.TypeListSchema)
def list_types() -> dict[str, Any]:
    """Every artifact type: plugins' (marshmallow) and run-time (JSON Schema) ones."""
    return {"types": [info.public() for info in artifact_types.list_types()]}


@blp.get("/artifact-types/<string(length=None, maxlength=100):name>")
@blp.arguments(s.TypeQuerySchema, location="query")
@blp.response(200, s.TypeSchema)
def get_type(query: dict[str, Any], name: str) -> dict[str, Any]:
    """One artifact type (its latest version unless ``version``)."""
    return artifact_types.get_type(name, query.get("version")).public()


# -- artifacts ----------------------------------------------------------------------------------


@blp.post("/artifacts")
@idempotent
@blp.arguments(s.PublishSchema)
@blp.response(202, s.PublishResponseSchema)
def publish(body: dict[str, Any]) -> dict[str, Any]:
    """Publish an artifact; agents subscribed to its type consume it on the runners."""
    artifact, _ = board.publish(body, dedupe=_dedupe())
    return {
        "status": "accepted",
        "correlation_id": artifact.correlation_id,
        "artifact": board.public(artifact),
    }


@blp.post("/artifacts/sync")
@idempotent
@blp.arguments(s.SyncPublishSchema)
@blp.response(200, s.SyncPublishResponseSchema)
def publish_sync(body: dict[str, Any]) -> dict[str, Any]:
    """Publish and wait until this artifact's own cascade is idle, or ``timeout`` seconds.

    The correlation id is the server's. On timeout the answer is still 200, with
    ``completed: false``; the cascade carries on (follow it with the status endpoint).
    """
    return sync.publish_and_wait(body, dedupe=_dedupe())


@blp.get("/artifacts")
@blp.arguments(s.ArtifactQuerySchema, location="query")
@blp.response(200, s.ArtifactPageSchema)
def list_artifacts(query: dict[str, Any]) -> dict[str, Any]:
    """Artifacts filtered by type, producer, correlation, tag, time span and visibility."""
    limit, offset = query.pop("limit"), query.pop("offset")
    query["from"] = query.pop("from_", None)
    page = queries.list_artifacts(query, limit, offset)
    page["items"] = [board.public(a) for a in page["items"]]
    return page


@blp.get("/artifacts/summary")
@blp.arguments(s.SummaryQuerySchema, location="query")
@blp.response(200, s.SummarySchema)
def summary(query: dict[str, Any]) -> dict[str, Any]:
    """Counts by type, producer and visibility (same filters as the list)."""
    query["from"] = query.pop("from_", None)
    return {"summary": queries.summary(query)}


@blp.get("/artifacts/<string(length=None, maxlength=36):artifact_id>")
@blp.response(200, s.ArtifactSchema)
def get_artifact(artifact_id: str) -> dict[str, Any]:
    """One artifact (404 problem when unknown)."""
    return board.public(board.get_artifact(artifact_id))


# -- correlations -------------------------------------------------------------------------------


@blp.get("/correlations/<string(length=None, maxlength=36):correlation_id>/status")
@blp.response(200, s.CorrelationStatusSchema)
def correlation_status(correlation_id: str) -> dict[str, Any]:
    """Flock's status of a correlation: state, pending work, counts, activity."""
    return queries.correlation_status(correlation_id)


# -- agents -------------------------------------------------------------------------------------


@blp.post("/agents")
@blp.arguments(s.AgentCreateSchema)
@blp.response(201, s.AgentSchema)
@blp.alt_response(409, schema="Problem", description="An agent with this name exists.")
def create_agent(body: dict[str, Any]) -> dict[str, Any]:
    """Register an HTTP agent: Junction POSTs the artifacts it subscribes to, signed."""
    for index, sub in enumerate(body["subscriptions"]):
        if sub.get("where") is not None:
            artifact_types.check_schema_at(sub["where"], f"subscriptions.{index}.where")
    return agents.register_http_agent(body).public()


@blp.get("/agents")
@blp.response(200, s.AgentListSchema)
def list_agents() -> dict[str, Any]:
    """Every agent (Python and HTTP) with its subscriptions and, for HTTP, its health."""
    return {"agents": [agent.public() for agent in agents.all_agents()]}


@blp.get("/agents/<string(length=None, maxlength=100):name>")
@blp.response(200, s.AgentSchema)
def get_agent(name: str) -> dict[str, Any]:
    """One agent."""
    return agents.get(name).public()


@blp.delete("/agents/<string(length=None, maxlength=100):name>")
@blp.response(204)
def delete_agent(name: str) -> None:
    """Delete an HTTP agent (its pending consumptions then fail)."""
    agents.delete_http_agent(name)


@blp.post("/agents/<string(length=None, maxlength=100):name>/run")
@blp.arguments(s.AgentRunSchema)
@blp.response(200, s.AgentRunResponseSchema)
def run_agent(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Run the agent on existing artifacts and/or new inputs; wait up to ``timeout``."""
    return runs.run_agent(
        name, body.get("artifact_ids") or [], body.get("inputs") or [], body["timeout"]
    )


@blp.get("/agents/<string(length=None, maxlength=100):name>/history-summary")
@blp.response(200, s.HistorySummarySchema)
def history_summary(name: str) -> dict[str, Any]:
    """What the agent produced and consumed, by type, and how its runs ended."""
    agents.get(name)
    return queries.history_summary(name)
