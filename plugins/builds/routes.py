"""HTTP routes of the builds plugin: parse, call the service, respond."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request, stream_with_context
from flask_smorest import Blueprint

from app.api import raw_body
from app.events import stream_refusal
from app.idempotency import idempotent
from plugins.builds import config_view, hints, history, logs, logtail, plans, queue, status, trigger
from plugins.builds import schemas as s
from plugins.builds import schemas_content as sc
from plugins.builds.tokens import session_cookie, worker_only

blp = Blueprint(
    "builds",
    __name__,
    url_prefix="/api/builds",
    description="Wheel-build control plane: build history, queue, hints, logs, plans, workers.",
)

# -- health and config -----------------------------------------------------------------------------


# Documented so that clients (and fuzzers) know the form; the names module's checks answer the
# actual refusals (a name PEP 508 refuses, a version PEP 440 refuses: 422).
PACKAGE_NAME: dict[str, Any] = {
    "in": "path",
    "name": "name",
    "description": "A distribution name as PEP 508 allows it (normalised as PEP 503 says).",
    "schema": {
        "type": "string",
        "pattern": "^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$",
        "maxLength": 200,
    },
}
PACKAGE_VERSION: dict[str, Any] = {
    "in": "path",
    "name": "version",
    "description": "A version as PEP 440 allows it.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}


@blp.get("/health")
@blp.response(200, s.BuildsHealthSchema)
@blp.alt_response(503, schema="Problem", description="The queue backend is unavailable.")
def health() -> dict[str, Any]:
    """``{"status": "ok"}`` when the database and the queue backend answer."""
    return status.health()


@blp.get("/config")
@blp.response(200, s.BuildsConfigSchema)
def get_config() -> dict[str, Any]:
    """Strategy, targets, index settings, queue backend, database: sanitised."""
    return config_view.public_config()


# -- events --------------------------------------------------------------------------------------


@blp.post("/events")
@worker_only
@blp.arguments(s.BuildsEventBatchSchema)
@blp.response(200, s.BuildsIngestResultSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
def post_events(body: dict[str, Any]) -> dict[str, Any]:
    """Ingest one event or a batch; an event id sent again stores nothing (``duplicate``)."""
    return history.ingest(body["events"])


@blp.get("/summary")
@blp.arguments(s.BuildsSummaryQuerySchema, location="query")
@blp.response(200, s.BuildsSummarySchema)
def summary(query: dict[str, Any]) -> dict[str, Any]:
    """Status counts over the recent window and the latest failures."""
    return history.summary(query["failure_limit"], query["window_hours"])


@blp.get("/recent")
@blp.arguments(s.BuildsRecentQuerySchema, location="query")
@blp.response(200, s.BuildsEventPageSchema)
def recent(query: dict[str, Any]) -> dict[str, Any]:
    """The latest events, optionally of one package or status."""
    return history.history(query)


@blp.get("/history")
@blp.arguments(s.BuildsHistoryQuerySchema, location="query")
@blp.response(200, s.BuildsEventPageSchema)
def get_history(query: dict[str, Any]) -> dict[str, Any]:
    """Events filtered by package, status, run id and time range (``from`` ≤ t < ``to``)."""
    return history.history(query)


@blp.get("/package/<string:name>", parameters=[PACKAGE_NAME])
@blp.response(200, s.BuildsPackageSchema)
@blp.alt_response(404, schema="Problem", description="No events for this package.")
def package(name: str) -> dict[str, Any]:
    """A package's counts by status, versions and latest event."""
    return history.package(name)


@blp.get("/event/<string:name>/<string:version>", parameters=[PACKAGE_NAME, PACKAGE_VERSION])
@blp.response(200, s.BuildsEventSchema)
@blp.alt_response(404, schema="Problem", description="No events for this version.")
def event(name: str, version: str) -> dict[str, Any]:
    """The last event of one version."""
    return history.event(name, version)


@blp.get("/failures")
@blp.arguments(s.BuildsFailuresQuerySchema, location="query")
@blp.response(200, s.BuildsEventPageSchema)
def failures(query: dict[str, Any]) -> dict[str, Any]:
    """Failed builds over time, of one package (``name``) or all."""
    return history.failures(query.get("name"), query["limit"], query["offset"])


@blp.get("/variants/<string:name>", parameters=[PACKAGE_NAME])
@blp.arguments(s.BuildsPageQuerySchema, location="query")
@blp.response(200, s.BuildsVariantPageSchema)
def variants(query: dict[str, Any], name: str) -> dict[str, Any]:
    """Each version and tag pair built of a package: attempts, failures, last status."""
    return history.variants(name, query["limit"], query["offset"])


@blp.get("/top-failures")
@blp.arguments(s.BuildsTopQuerySchema, location="query")
@blp.response(200, s.BuildsTopFailuresSchema)
def top_failures(query: dict[str, Any]) -> dict[str, Any]:
    """Packages with the most failed builds."""
    return {"items": history.top_failures(query["limit"])}


@blp.get("/top-slowest")
@blp.arguments(s.BuildsTopQuerySchema, location="query")
@blp.response(200, s.BuildsTopSlowestSchema)
def top_slowest(query: dict[str, Any]) -> dict[str, Any]:
    """The slowest builds."""
    return {"items": history.top_slowest(query["limit"])}


# -- hints ---------------------------------------------------------------------------------------


@blp.get("/hints")
@blp.response(200, sc.BuildsHintListSchema)
def list_hints() -> dict[str, Any]:
    """Every hint."""
    return {"items": hints.list_hints()}


@blp.post("/hints")
@idempotent
@blp.arguments(sc.BuildsHintInSchema)
@blp.response(201, sc.BuildsHintSchema)
def create_hint(body: dict[str, Any]) -> dict[str, Any]:
    """Create a hint; 422 for an invalid pattern or one that could backtrack catastrophically."""
    return hints.create_hint(body)


@blp.put("/hints/<int:hint_id>")
@blp.arguments(sc.BuildsHintInSchema)
@blp.response(200, sc.BuildsHintSchema)
@blp.alt_response(404, schema="Problem", description="No such hint.")
def update_hint(body: dict[str, Any], hint_id: int) -> dict[str, Any]:
    """Replace a hint."""
    return hints.update_hint(hint_id, body)


@blp.delete("/hints/<int:hint_id>")
@blp.response(204)
@blp.alt_response(404, schema="Problem", description="No such hint.")
def delete_hint(hint_id: int) -> None:
    """Delete a hint."""
    hints.delete_hint(hint_id)


# -- logs ----------------------------------------------------------------------------------------


@blp.post("/logs")
@worker_only
@blp.arguments(sc.BuildsLogInSchema)
@blp.response(201, sc.BuildsLogMetaSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
def post_log(body: dict[str, Any]) -> dict[str, Any]:
    """Store a build's log (compressed; a log over the size limit keeps its head and tail)."""
    return logs.store(body)


@blp.get("/logs/search")
@blp.arguments(sc.BuildsLogSearchQuerySchema, location="query")
@blp.response(200, sc.BuildsLogSearchSchema)
def search_logs(query: dict[str, Any]) -> dict[str, Any]:
    """Full-text search (stemmed words, "phrases", -exclusions, or), with highlighted snippets."""
    return logs.search(query["q"], query["limit"])


@blp.get("/logs/<string:name>/<string:version>", parameters=[PACKAGE_NAME, PACKAGE_VERSION])
@blp.response(200, sc.BuildsLogSchema)
@blp.alt_response(404, schema="Problem", description="No log for this version.")
def get_log(name: str, version: str) -> dict[str, Any]:
    """The newest log of one version, with its content."""
    return logs.latest_log(name, version)


@blp.post("/logs/stream/<string:name>/<string:version>", parameters=[PACKAGE_NAME, PACKAGE_VERSION])
@worker_only
@raw_body(content_types=("text/plain",))
@blp.response(200, sc.BuildsLogAppendSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
@blp.doc(requestBody={"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}})
def append_log(name: str, version: str) -> dict[str, Any]:
    """Append lines (a ``text/plain`` body) to a build's live log; followers get them at once."""
    text = request.get_data(cache=False).decode("utf-8", "replace")
    return logtail.append(name, version, text)


TAIL_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "The next line number (resume from it)."},
        "event": {"type": "string", "enum": ["lines", "complete"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
    "required": ["data"],
}


def _sse(items: Iterator[dict[str, Any] | None]) -> Iterator[str]:
    yield "retry: 3000\n: log tail\n\n"
    for item in items:
        if item is None:
            yield ": heartbeat\n\n"
        elif item["type"] == "complete":
            yield f"event: complete\ndata: {json.dumps(item)}\n\n"
        else:
            next_line = item["first_line"] + len(item["lines"])
            yield f"id: {next_line}\nevent: lines\ndata: {json.dumps(item)}\n\n"


@blp.get("/logs/stream/<string:name>/<string:version>", parameters=[PACKAGE_NAME, PACKAGE_VERSION])
@blp.arguments(sc.BuildsTailQuerySchema, location="query")
@blp.response(
    200,
    TAIL_EVENT_SCHEMA,
    content_type="text/event-stream",
    description="Server-sent events: `event: lines` with `{first_line, lines}` (id = the next "
    "line number, so Last-Event-ID resumes), `event: complete` when the whole log is stored.",
)
@blp.alt_response(403, schema="Problem", description="Origin not allowed.")
def tail_log(query: dict[str, Any], name: str, version: str) -> Response:
    """Live tail of a build's log over SSE, from line ``offset`` (or ``Last-Event-ID``)."""
    refused = stream_refusal()  # a foreign Host (400) or Origin (403)
    if refused is not None:
        raise refused
    offset = query["offset"]
    resume = request.headers.get("Last-Event-ID", "")
    if resume.isdigit() and len(resume) < 10:
        offset = int(resume)
    beat = float(current_app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"])
    name, version = logtail.normalized(name, version)  # a 422 before the 200 goes out
    items = logtail.follow(name, version, offset, heartbeat=beat)
    response = Response(stream_with_context(_sse(items)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


# -- plan, manifest, artifacts ---------------------------------------------------------------------


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


# -- queue ---------------------------------------------------------------------------------------


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


# -- workers -------------------------------------------------------------------------------------


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


# -- session -------------------------------------------------------------------------------------


@blp.post("/session/token")
@blp.arguments(s.BuildsTokenSchema)
@blp.response(204)
@blp.alt_response(400, schema="Problem", description="No worker token is configured.")
@blp.alt_response(401, schema="Problem", description="Not the worker token.")
def session_token(body: dict[str, Any]) -> Response:
    """Remember the worker token in an HttpOnly, SameSite=Strict cookie (body, not query)."""
    response = Response(status=204)
    return session_cookie(body["token"], response)
