"""The core's event endpoints: ``/ws/stream?channel=...`` (WebSocket), ``GET /api/events``
(polling) and ``GET /api/events/stream`` (SSE)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint, Flask, Response, request
from flask_smorest import Blueprint as ApiBlueprint

from app.api import PageQuerySchema, PageSchema, paginate
from app.errors import ValidationFailed
from app.events.log import Event, head_id
from app.events.streams import (
    MAX_CHANNELS,
    MAX_EVENT_ID,
    accept_websocket,
    check_websocket_origin,
    parse_channels,
    parse_event_id,
    sse_response,
    stream_websocket,
)

ws_blp = Blueprint("event_streams", __name__)


@ws_blp.route("/ws/stream", websocket=True)
def websocket_stream() -> Response:
    """WebSocket stream of ``?channel=`` (several allowed) with replay from ``last_event_id``."""
    channels = parse_channels(request.args.getlist("channel"))
    last_event_id = parse_event_id(request.args.get("last_event_id"), "last_event_id")
    return accept_websocket(lambda ws: stream_websocket(ws, channels, last_event_id))


# -- HTTP API: polling fallback and SSE ------------------------------------------------------------

api_blp = ApiBlueprint(
    "events",
    __name__,
    url_prefix="/api/events",
    description=(
        "The event log: poll it with `after`, or stream it (SSE here, WebSocket at "
        "`/ws/stream?channel=...`). Events come in increasing `id` order."
    ),
)


# One channel name as the document states it; ``parse_channels`` (the check itself, which also
# splits comma-separated values) accepts exactly these names. (?!\n): see app/domain/schemas.py.
CHANNEL_PATTERN = r"^[A-Za-z0-9_.:/@-]{1,255}(?!\n)$"


class _ChannelsMixin(ma.Schema):
    channel = ma.fields.List(
        ma.fields.String(metadata={"pattern": CHANNEL_PATTERN}),
        required=True,
        metadata={
            "description": (
                f"Channel name (letters, digits and `_ . : / @ -`); repeat the parameter for up "
                f"to {MAX_CHANNELS} channels (a value may also list several, comma-separated)."
            ),
            "minItems": 1,
            "maxItems": MAX_CHANNELS,
        },
    )

    @ma.validates_schema
    def _check_channels(self, data: dict[str, Any], **kwargs: Any) -> None:
        try:
            data["channel"] = parse_channels(data.get("channel") or [])
        except ValidationFailed as exc:
            raise ma.ValidationError(exc.detail, "channel") from None


class EventQuerySchema(_ChannelsMixin, PageQuerySchema):
    """Query of ``GET /api/events``."""

    after = ma.fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0, max=MAX_EVENT_ID),
        metadata={"description": "Return events with an id greater than this."},
    )


class StreamQuerySchema(_ChannelsMixin):
    """Query of ``GET /api/events/stream``."""

    last_event_id = ma.fields.Integer(
        validate=ma.validate.Range(min=0, max=MAX_EVENT_ID),
        metadata={"description": "Resume after this id (the Last-Event-ID header wins)."},
    )


class EventSchema(ma.Schema):
    """One event of the log."""

    id = ma.fields.Integer(required=True)
    channel = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    data = ma.fields.Dict(required=True)
    project = ma.fields.String(allow_none=True, required=True)
    created_at = ma.fields.DateTime(required=True)


class EventPageSchema(PageSchema):
    """A page of events; poll again with ``after=last_id``."""

    items = ma.fields.List(ma.fields.Nested(EventSchema), required=True)
    last_id = ma.fields.Integer(
        required=True,
        metadata={"description": "Id of the last item, or `after` when the page is empty."},
    )
    head_id = ma.fields.Integer(required=True, metadata={"description": "Newest id in the log."})


@api_blp.get("")
@api_blp.arguments(EventQuerySchema, location="query", as_kwargs=True)
@api_blp.response(200, EventPageSchema)
def list_events(channel: list[str], after: int, limit: int, offset: int) -> dict[str, Any]:
    """Events of the channels after ``after``, oldest first (the polling fallback of streams)."""
    query = sa.select(Event).where(Event.channel.in_(channel), Event.id > after).order_by(Event.id)
    page = paginate(query, limit, offset)
    page["last_id"] = page["items"][-1].id if page["items"] else after
    page["head_id"] = head_id()
    return page


# The schema of a ``text/event-stream`` response describes one event (Open API 3.2 calls it
# ``itemSchema``; before 3.2, tools such as schemathesis read ``schema`` that way): its fields
# as an EventSource sees them. Comments (heartbeats) and ``retry:`` lines are not events.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "The event's id; absent on a `dropped` notice.",
        },
        "event": {"type": "string", "description": "Always `message`."},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "The event as JSON (as in `GET /api/events`), or a `dropped` notice.",
        },
    },
    "required": ["data"],
}


@api_blp.get("/stream")
@api_blp.arguments(StreamQuerySchema, location="query", as_kwargs=True)
@api_blp.response(
    200,
    SSE_EVENT_SCHEMA,
    content_type="text/event-stream",
    description=(
        "Server-sent events: `id: <event id>` and `data: <event JSON>` per event; "
        '`data: {"type": "dropped", "count", "next_id"}` when the client fell behind; '
        "comments as heartbeats."
    ),
)
@api_blp.alt_response(403, schema="Problem", description="Origin not allowed.")
@api_blp.alt_response(
    503,
    schema="Problem",
    description="This worker holds its stream limit or is shutting down; retry after "
    "`Retry-After` seconds.",
)
def stream_events(channel: list[str], last_event_id: int | None = None) -> Response:
    """Stream the channels as server-sent events, resuming after ``Last-Event-ID``."""
    header = parse_event_id(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    return sse_response(channel, header if header is not None else last_event_id)


def init_app(app: Flask) -> None:
    """Register the stream endpoints and the WebSocket Origin check on ``app``."""
    app.before_request(check_websocket_origin)
    app.register_blueprint(ws_blp)
    state = app.extensions.get("junction")
    if state is not None and state.api is not None:
        state.api.register_blueprint(api_blp)
