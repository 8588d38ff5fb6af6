"""Routes of hints and build logs: store, search, fetch, append live and tail over SSE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request, stream_with_context

from app.api import raw_body
from app.events import stream_refusal
from app.idempotency import idempotent
from plugins.builds import hints, logs, logtail
from plugins.builds import schemas_content as sc
from plugins.builds.routes.blueprint import PACKAGE_NAME, PACKAGE_VERSION, blp
from plugins.builds.tokens import worker_only


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
