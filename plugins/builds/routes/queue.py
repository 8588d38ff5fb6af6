"""Routes of the workers' side: plans, manifests and artifacts, the build queue, the worker
trigger and the session token."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.idempotency import idempotent
from plugins.builds import plans, queue, trigger
from plugins.builds import schemas as s
from plugins.builds import schemas_content as sc
from plugins.builds.routes.blueprint import blp
from plugins.builds.tokens import session_cookie, worker_only


@blp.get("/plan")
@blp.response(200, sc.BuildsPlanSchema)
def get_plan() -> dict[str, Any]:
    """The current plan (the newest saved)."""
    return plans.current_plan()


@blp.post("/plan")
@worker_only
@idempotent
@blp.arguments(sc.BuildsPlanInSchema)
@blp.response(201, sc.BuildsPlanSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
def post_plan(body: dict[str, Any]) -> dict[str, Any]:
    """Save a plan snapshot of a run."""
    return plans.save_plan(body.get("run_id"), body["plan"])


@blp.get("/manifest")
@blp.arguments(sc.BuildsManifestQuerySchema, location="query")
@blp.response(200, sc.BuildsManifestSchema)
def get_manifest(query: dict[str, Any]) -> dict[str, Any]:
    """The manifest of the last run (or of ``run_id``)."""
    return plans.manifest(query["limit"], query.get("run_id"))


@blp.post("/manifest")
@worker_only
@idempotent
@blp.arguments(sc.BuildsManifestInSchema)
@blp.response(201, sc.BuildsManifestSavedSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
def post_manifest(body: dict[str, Any]) -> dict[str, Any]:
    """Save a run's manifest entries."""
    return plans.save_manifest(body.get("run_id"), body["entries"])


@blp.get("/artifacts")
@blp.arguments(sc.BuildsArtifactsQuerySchema, location="query")
@blp.response(200, sc.BuildsArtifactListSchema)
def artifacts(query: dict[str, Any]) -> dict[str, Any]:
    """Built wheels (paths or URLs) from the manifests, newest first."""
    return plans.artifacts(query["limit"])


@blp.get("/queue")
@blp.arguments(s.BuildsPageQuerySchema, location="query")
@blp.response(200, s.BuildsQueuePageSchema)
def get_queue(query: dict[str, Any]) -> dict[str, Any]:
    """Queued and building items, oldest first."""
    return queue.list_items(query["limit"], query["offset"])


@blp.get("/queue/stats")
@blp.response(200, s.BuildsQueueStatsSchema)
def queue_stats() -> dict[str, Any]:
    """Length, in flight, oldest age and backend."""
    return queue.stats()


@blp.post("/queue/enqueue")
@worker_only
@idempotent
@blp.arguments(s.BuildsEnqueueSchema)
@blp.response(201, s.BuildsEnqueuedSchema)
@blp.alt_response(200, schema=s.BuildsEnqueuedSchema, description="Already queued or building.")
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
def enqueue(body: dict[str, Any]) -> Any:
    """Queue a build; the same package, version and tags already queued is not queued twice."""
    item, created = queue.enqueue(body)
    return {"created": created, "item": item}, 201 if created else 200


@blp.post("/queue/clear")
@worker_only
@blp.response(200, s.BuildsQueueClearedSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
@blp.alt_response(422, schema="Problem", description="This backend cannot be cleared (why).")
def clear_queue() -> dict[str, Any]:
    """Empty the queue (refused where the backend cannot, as Kafka)."""
    return queue.clear()


@blp.post("/worker/trigger")
@worker_only
@idempotent
@blp.response(202, sc.BuildsTriggerSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
@blp.alt_response(502, schema="Problem", description="The worker webhook refused the drain.")
@blp.alt_response(503, schema="Problem", description="The trigger is unconfigured or down.")
def worker_trigger() -> dict[str, Any]:
    """Drain the queue through the configured trigger (local operation or signed webhook)."""
    return trigger.trigger()


@blp.post("/worker/smoke")
@worker_only
@blp.response(200, sc.BuildsSmokeSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
def worker_smoke() -> dict[str, Any]:
    """Check mounts and configuration without draining (``ok`` false names what fails)."""
    return trigger.smoke()


@blp.post("/session/token")
@blp.arguments(s.BuildsTokenSchema)
@blp.response(204)
@blp.alt_response(400, schema="Problem", description="No worker token is configured.")
@blp.alt_response(401, schema="Problem", description="Not the worker token.")
def session_token(body: dict[str, Any]) -> Response:
    """Remember the worker token in an HttpOnly, SameSite=Strict cookie (body, not query)."""
    response = Response(status=204)
    return session_cookie(body["token"], response)
