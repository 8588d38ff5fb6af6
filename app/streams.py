"""Live streams of the event log: WebSocket and SSE helpers, the generic endpoints.

Plugins serve their own stream routes with :func:`stream_websocket` (inside a flask-sock route,
or through :func:`accept_websocket` to validate before the handshake) and :func:`sse_response`.
Both replay from the client's last event id, send heartbeats, use a bounded queue that reports
``dropped`` events, and refuse foreign ``Origin``\\s. Authentication is the API's own: the
``before_request`` of :mod:`app.auth` covers ``/ws/`` (with the ``access_token`` query parameter
for browsers) and ``/api/``.

Core endpoints: ``/ws/stream?channel=...`` (WebSocket), ``GET /api/events`` (polling) and
``GET /api/events/stream`` (SSE).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, has_request_context, request
from flask_smorest import Blueprint as ApiBlueprint

from app.api import PageQuerySchema, PageSchema, paginate
from app.errors import Forbidden, ValidationFailed, field_error, problem
from app.events import Event, Gap, Item, Subscription, head_id, option, subscribe

CHANNEL_RE = re.compile(r"^[A-Za-z0-9_.:/@-]{1,255}$")
MAX_CHANNELS = 50
MAX_EVENT_ID = 2**63 - 1
POLICY_VIOLATION = 1008
GOING_AWAY = 1001


# -- request helpers -----------------------------------------------------------------------------


def parse_channels(values: Iterable[str]) -> list[str]:
    """Channel names from repeated and/or comma-separated values; raises 422 when invalid."""
    channels: list[str] = []
    for value in values:
        channels.extend(part.strip() for part in str(value).split(",") if part.strip())
    channels = list(dict.fromkeys(channels))
    if not channels:
        raise ValidationFailed(
            "Name at least one channel: ?channel=projects (repeat it or separate with commas).",
            errors=[field_error("channel", "At least one channel is required.", "required")],
        )
    if len(channels) > MAX_CHANNELS:
        raise ValidationFailed(
            f"At most {MAX_CHANNELS} channels per stream.",
            errors=[field_error("channel", f"At most {MAX_CHANNELS} channels.", "too_many")],
        )
    bad = [c for c in channels if not CHANNEL_RE.match(c)]
    if bad:
        raise ValidationFailed(
            f"Invalid channel name {bad[0]!r}: use letters, digits and _ . : / @ -.",
            errors=[field_error("channel", "Invalid channel name.", "invalid")],
        )
    return channels


def parse_event_id(value: str | None, field: str) -> int | None:
    """An event id from a header or query value (``None`` when absent); raises 422 if invalid."""
    if value is None or not value.strip():
        return None
    try:
        number = int(value.strip())
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_EVENT_ID:
        raise ValidationFailed(
            f"{field} must be a non-negative integer event id.",
            errors=[field_error(field, "Not a valid event id.", "invalid")],
        )
    return number


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None]:
    parsed = urlsplit(f"//{netloc}")
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    try:
        port = parsed.port or default
    except ValueError:
        return "", None
    return (parsed.hostname or "").lower(), port


def origin_allowed(origin: str | None, host: str, allowed: Iterable[str]) -> bool:
    """Whether a browser ``Origin`` may open a stream on ``host``.

    No ``Origin`` (non-browser clients) is allowed; otherwise the origin must name the same host
    and port as the request, or be listed in ``JUNCTION_ALLOWED_ORIGINS`` (``*`` allows all).
    """
    if origin is None:
        return True
    allowed = [a.strip().rstrip("/").lower() for a in allowed]
    origin = origin.strip().rstrip("/").lower()
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False  # "null" and other opaque origins
    mine = _host_port(parts.netloc, parts.scheme)
    return mine[0] != "" and mine == _host_port(host, parts.scheme)


def request_origin_allowed() -> bool:
    """:func:`origin_allowed` for the current request."""
    allowed = current_app.config["JUNCTION"].get("ALLOWED_ORIGINS") or []
    return origin_allowed(request.headers.get("Origin"), request.host, allowed)


def check_websocket_origin() -> Response | None:
    """``before_request``: refuse a WebSocket handshake from a foreign Origin (any path), before
    the connection is accepted, so plugins' flask-sock routes are covered too."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return None
    if request_origin_allowed():
        return None
    return problem(
        403,
        "This Origin may not open streams here; add it to JUNCTION_ALLOWED_ORIGINS.",
        code="ORIGIN_NOT_ALLOWED",
    )


# -- WebSocket -----------------------------------------------------------------------------------


def _send(ws: Any, payload: dict[str, Any] | str) -> None:
    ws.send(payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":")))


def _resume_message(message: Any) -> tuple[bool, int | None]:
    """``(is_resume, last_event_id)`` for a client message ``{"last_event_id": N}``."""
    try:
        body = json.loads(message)
    except (TypeError, ValueError):
        return False, None
    if not isinstance(body, dict) or "last_event_id" not in body:
        return False, None
    value = body["last_event_id"]
    if value is None:
        return True, None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("last_event_id must be an integer")
    return True, parse_event_id(str(value), "last_event_id")


def stream_websocket(
    ws: Any,
    channels: Iterable[str],
    last_event_id: int | None = None,
    *,
    heartbeat: float | None = None,
    queue_size: int | None = None,
    resume_wait: float | None = None,
) -> None:
    """Serve ``channels`` on an accepted WebSocket until the client leaves.

    Protocol (server → client, one JSON object per message): first
    ``{"type": "hello", "channels", "last_event_id", "pid"}``; then events
    ``{id, channel, type, data, project, created_at}`` in id order; ``{"type": "heartbeat"}``
    after ``heartbeat`` seconds without traffic; ``{"type": "dropped", "count", "next_id"}`` when
    the client fell more than the queue size behind (send ``{"last_event_id": next_id - 1}`` to
    replay them); ``{"type": "replay", "last_event_id"}`` acknowledging such a request. Control
    messages have no ``channel`` member. Client → server: ``{"last_event_id": N}`` (as the first
    message: where to resume; later: rewind), ``{"type": "ping"}``.

    Without ``last_event_id`` (argument or ``?last_event_id=``) the server waits up to
    ``resume_wait`` seconds for the client's first message before streaming; events published
    meanwhile are not lost, streaming starts from the log position at connection time.
    """
    channels = list(dict.fromkeys(channels))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    heartbeat = float(heartbeat or option("EVENTS_HEARTBEAT_SECONDS", app))
    resume_wait = float(
        option("EVENTS_WS_RESUME_WAIT", app) if resume_wait is None else resume_wait
    )
    if has_request_context():
        if not request_origin_allowed():
            ws.close(POLICY_VIOLATION, "origin not allowed")
            return
        if last_event_id is None:
            try:
                last_event_id = parse_event_id(request.args.get("last_event_id"), "last_event_id")
            except ValidationFailed as exc:
                ws.close(POLICY_VIOLATION, exc.detail[:120])
                return
    head = head_id()
    start = head if last_event_id is None else last_event_id
    _send(ws, {"type": "hello", "channels": channels, "last_event_id": start, "pid": os.getpid()})
    pending: list[Any] = []
    if last_event_id is None and resume_wait > 0:
        first = ws.receive(timeout=resume_wait)
        if first is not None:
            try:
                is_resume, value = _resume_message(first)
            except (ValueError, ValidationFailed) as exc:
                _send(ws, {"type": "error", "detail": str(exc)})
                is_resume, value = False, None
            if is_resume:
                start = head if value is None else value
            else:
                pending.append(first)

    wake = ws.event if isinstance(getattr(ws, "event", None), threading.Event) else None
    sub = subscribe(channels, start, queue_size=queue_size, wake=wake)
    try:
        _serve(ws, sub, heartbeat, pending)
    except OSError:
        pass  # the client vanished mid-send: nothing to tell it
    finally:
        sub.close()


def _serve(ws: Any, sub: Subscription, heartbeat: float, pending: list[Any]) -> None:
    # Waiting on the WebSocket's own wake-up event (shared with the subscription) means one
    # thread notices both new events and client messages without polling.
    quiet_until = time.monotonic() + heartbeat
    while ws.connected and not sub.closed:
        items = sub.get_items(timeout=max(0.0, quiet_until - time.monotonic()))
        for item in items:
            _send(ws, item.json())
        if items:
            quiet_until = time.monotonic() + heartbeat
        while True:
            message = pending.pop(0) if pending else ws.receive(timeout=0)
            if message is None:
                break
            _handle_client_message(ws, sub, message)
        if time.monotonic() >= quiet_until:
            _send(ws, {"type": "heartbeat", "ts": time.time()})
            quiet_until = time.monotonic() + heartbeat
    if sub.closed and ws.connected:
        ws.close(GOING_AWAY, "server shutting down")


def _handle_client_message(ws: Any, sub: Subscription, message: Any) -> None:
    try:
        is_resume, value = _resume_message(message)
    except (ValueError, ValidationFailed) as exc:
        _send(ws, {"type": "error", "detail": str(exc)})
        return
    if is_resume:
        after = head_id(sub.hub.engine) if value is None else value
        sub.seek(after)
        _send(ws, {"type": "replay", "last_event_id": after})
        return
    try:
        body = json.loads(message)
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("type") == "ping":
        _send(ws, {"type": "pong", "ts": time.time()})
    else:
        _send(ws, {"type": "error", "detail": 'send {"last_event_id": N} or {"type": "ping"}'})


class _WebSocketResponse(Response):
    """What a WebSocket view returns once the socket is closed (as flask-sock does it)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self._mode = mode

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self._mode == "gunicorn":
            # gunicorn must not write an HTTP response on the upgraded socket; it treats
            # StopIteration as "connection handled".
            raise StopIteration()
        if self._mode == "werkzeug":
            return super().__call__(environ, start_response)
        return []


def accept_websocket(handler: Callable[[Any], None]) -> Response:
    """Complete the handshake, run ``handler(ws)`` and close; return it from a view declared
    with ``websocket=True``. Validate the request before calling this to answer errors as
    plain HTTP (the handshake then fails with that status)."""
    from simple_websocket import ConnectionClosed, Server

    ws = Server(request.environ, **current_app.config.get("SOCK_SERVER_OPTIONS", {}))
    try:
        handler(ws)
    except ConnectionClosed:
        pass
    except OSError:
        pass  # the client vanished mid-send
    with contextlib.suppress(Exception):  # already closed by either side
        ws.close()
    return _WebSocketResponse(ws.mode)


ws_blp = Blueprint("event_streams", __name__)


@ws_blp.route("/ws/stream", websocket=True)
def websocket_stream() -> Response:
    """WebSocket stream of ``?channel=`` (several allowed) with replay from ``last_event_id``."""
    channels = parse_channels(request.args.getlist("channel"))
    last_event_id = parse_event_id(request.args.get("last_event_id"), "last_event_id")
    return accept_websocket(lambda ws: stream_websocket(ws, channels, last_event_id))


# -- SSE ----------------------------------------------------------------------------------------


def _sse_lines(item: Item) -> str:
    if isinstance(item, Gap):
        # No id: a reconnecting EventSource resumes after the last event it did receive, so it
        # gets the dropped events from the log.
        return f"data: {item.json()}\n\n"
    return f"id: {item.id}\ndata: {item.json()}\n\n"


def sse_response(
    channels: Iterable[str],
    last_event_id: int | None = None,
    *,
    heartbeat: float | None = None,
    queue_size: int | None = None,
) -> Response:
    """A ``text/event-stream`` of ``channels``; call it from a view.

    Resumes after ``last_event_id``, else the ``Last-Event-ID`` header, else the
    ``last_event_id`` query parameter, else from now. Every event is ``id: N`` plus
    ``data: <event JSON>``; a ``dropped`` notice is data without id; heartbeats are comments.
    """
    channels = list(dict.fromkeys(channels))
    if not request_origin_allowed():
        raise Forbidden(
            "This Origin may not open streams here; add it to JUNCTION_ALLOWED_ORIGINS.",
            code="ORIGIN_NOT_ALLOWED",
        )
    if last_event_id is None:
        last_event_id = parse_event_id(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    if last_event_id is None:
        last_event_id = parse_event_id(request.args.get("last_event_id"), "last_event_id")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    beat = float(heartbeat or option("EVENTS_HEARTBEAT_SECONDS", app))
    sub = subscribe(channels, last_event_id, queue_size=queue_size)

    def generate() -> Iterator[str]:
        try:
            # The retry hint and a comment go out at once so proxies and clients see the
            # stream open before the first event.
            yield f"retry: 3000\n: stream from {sub.cursor}\n\n"
            quiet_until = time.monotonic() + beat
            while not sub.closed:
                items = sub.get_items(timeout=max(0.0, quiet_until - time.monotonic()))
                if items:
                    yield "".join(_sse_lines(item) for item in items)
                    quiet_until = time.monotonic() + beat
                elif time.monotonic() >= quiet_until:
                    yield ": heartbeat\n\n"
                    quiet_until = time.monotonic() + beat
        finally:
            sub.close()

    response = Response(generate(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    response.call_on_close(sub.close)
    return response


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


class _ChannelsMixin(ma.Schema):
    channel = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={"description": "Channel name; repeat the parameter or separate with commas."},
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
