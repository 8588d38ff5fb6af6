"""Live streams of the event log: WebSocket and SSE helpers, and the request helpers they share.

Plugins serve their own stream routes with :func:`stream_websocket` (inside a flask-sock route,
or through :func:`accept_websocket` to validate before the handshake) and :func:`sse_response`.
Both replay from the client's last event id, send heartbeats, use a bounded queue that reports
``dropped`` events, and refuse foreign ``Origin``\\s. Authentication is the API's own: the
``before_request`` of :mod:`app.auth` covers ``/ws/`` (with the ``access_token`` query parameter
for browsers) and ``/api/``.
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

from flask import Response, current_app, has_request_context, request

from app.errors import Forbidden, ValidationFailed, field_error, problem
from app.events.hub import subscribe
from app.events.log import Gap, Item, head_id
from app.events.subscriptions import Subscription

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
    allowed = current_app.config.get("JUNCTION_ALLOWED_ORIGINS") or []
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
    heartbeat = float(heartbeat or app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"])
    resume_wait = float(
        app.config["JUNCTION_EVENTS_WS_RESUME_WAIT"] if resume_wait is None else resume_wait
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
    beat = float(heartbeat or app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"])
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
