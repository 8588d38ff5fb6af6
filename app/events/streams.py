"""Live streams of the event log: WebSocket and SSE, for the core's routes and for plugins'.

Plugins serve their own stream routes with :func:`stream_websocket` (inside a flask-sock route,
or through :func:`accept_websocket` to validate before the handshake) and
:func:`~app.events.sse.sse_response` (re-exported here).
Both replay from the client's last event id, send heartbeats, use a bounded queue that reports
``dropped`` events, refuse foreign ``Host``\\s and ``Origin``\\s (:mod:`app.events.access`),
count against the worker's stream cap (503 with ``Retry-After`` past it) and end when the worker
shuts down (:func:`~app.events.hub.close_streams`). A client that goes away is noticed within
about a second (SSE: the socket is checked for the peer's close; WebSocket: its reader sees it,
and protocol pings find a silent one). Authentication is the API's own: the ``before_request``
of :mod:`app.auth` covers ``/ws/`` (with the ``access_token`` query parameter for browsers) and
``/api/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, current_app, g, has_request_context, request

from app.errors import JunctionError, ServiceUnavailable, ValidationFailed
from app.events.access import (
    CHANNEL_RE,
    MAX_CHANNELS,
    MAX_EVENT_ID,
    StreamSlot,
    check_websocket_origin,
    open_stream,
    parse_channels,
    parse_event_id,
    stream_refusal,
)
from app.events.log import Item, LogEvent, head_id
from app.events.publishing import subscribe
from app.events.sse import sse_response  # re-exported: plugins import it from here
from app.events.subscriptions import Subscription
from app.events.wire import FrameSink, text_frame
from app.jsonparse import parse_json
from app.state import current_app_object

__all__ = [
    "CHANNEL_RE",
    "MAX_CHANNELS",
    "MAX_EVENT_ID",
    "accept_websocket",
    "check_websocket_origin",
    "parse_channels",
    "parse_event_id",
    "sse_response",
    "stream_websocket",
]

log = logging.getLogger("app.events")

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
#: Client messages are tiny (a resume id, a ping); a bigger one closes the socket (1009).
MAX_CLIENT_MESSAGE = 64 * 1024
_SLOT = "junction_stream_slot"


# -- WebSocket -----------------------------------------------------------------------------------


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def _parse_client_message(message: Any) -> tuple[str, Any]:
    """A client message as ``("resume", id or None)``, ``("ping", None)`` or
    ``("error", problem fields)``. Parsed with the API's limits, so no message can raise."""
    if isinstance(message, str) and message.strip().lower() == "ping":
        return "ping", None
    try:
        body = parse_json(message)
        if isinstance(body, dict) and "last_event_id" in body:
            value = body["last_event_id"]
            if value is None:
                return "resume", None
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValidationFailed("last_event_id must be a non-negative integer event id.")
            return "resume", parse_event_id(str(value), "last_event_id")
    except JunctionError as exc:
        return "error", {"code": exc.code, "detail": exc.detail}
    if isinstance(body, dict) and body.get("type") == "ping":
        return "ping", None
    return "error", {
        "code": "UNKNOWN_MESSAGE",
        "detail": 'send {"last_event_id": N} or {"type": "ping"}',
    }


def stream_websocket(
    ws: Any,
    channels: Iterable[str],
    last_event_id: int | None = None,
    *,
    heartbeat: float | None = None,
    queue_size: int | None = None,
    resume_wait: float | None = None,
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Serve ``channels`` on an accepted WebSocket until the client leaves.

    ``shape`` lets a plugin send each event in a contract of its own (a seed's message shape):
    it gets the event ``{id, channel, type, data, project, created_at}`` and returns the message
    to send; control messages are not shaped. Shaped events are encoded per stream, so they go
    through the subscriber's queue rather than the hub's shared frames.

    Protocol (server → client, one JSON object per message): first
    ``{"type": "hello", "channels", "last_event_id", "pid"}``; then events
    ``{id, channel, type, data, project, created_at}`` in id order; ``{"type": "heartbeat"}``
    after ``heartbeat`` seconds without traffic; ``{"type": "dropped", "count", "next_id"}`` when
    the client fell more than the queue size behind (send ``{"last_event_id": next_id - 1}`` to
    replay them); ``{"type": "replay", "last_event_id"}`` acknowledging such a request;
    ``{"type": "pong"}``; ``{"type": "error", "code", "detail"}`` for a message it could not use.
    Control messages have no ``channel`` member. Client → server: ``{"last_event_id": N}`` (as
    the first message: where to resume; later: rewind), ``{"type": "ping"}`` (or ``ping``).

    Without ``last_event_id`` (argument or ``?last_event_id=``) the server waits up to
    ``resume_wait`` seconds for the client's first message before streaming; events published
    meanwhile are not lost, streaming starts from the log position at connection time.
    """
    channels = list(dict.fromkeys(channels))
    app = current_app_object()
    heartbeat = float(heartbeat or app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"])
    resume_wait = float(
        app.config["JUNCTION_EVENTS_WS_RESUME_WAIT"] if resume_wait is None else resume_wait
    )
    slot: StreamSlot | None = None
    if has_request_context():
        refused = stream_refusal()
        if refused is not None:
            ws.close(POLICY_VIOLATION, refused.code.lower().replace("_", " "))
            return
        if last_event_id is None:
            try:
                last_event_id = parse_event_id(request.args.get("last_event_id"), "last_event_id")
            except ValidationFailed as exc:
                ws.close(POLICY_VIOLATION, exc.detail[:120])
                return
        if g.get(_SLOT) is None:  # a plugin's flask-sock route: count the stream here
            try:
                slot = open_stream("websocket")
            except ServiceUnavailable as exc:
                ws.close(TRY_AGAIN_LATER, exc.detail[:120])
                return
    try:
        _run_websocket(ws, channels, last_event_id, heartbeat, queue_size, resume_wait, shape)
    finally:
        if slot is not None:
            slot.release()


def _run_websocket(
    ws: Any,
    channels: list[str],
    last_event_id: int | None,
    heartbeat: float,
    queue_size: int | None,
    resume_wait: float,
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    sink = FrameSink.wrap(ws)
    head = head_id()
    start = head if last_event_id is None else last_event_id
    hello = {"type": "hello", "channels": channels, "last_event_id": start, "pid": os.getpid()}
    sink.send_text(_dumps(hello))
    pending: list[tuple[str, Any]] = []
    if last_event_id is None and resume_wait > 0:
        first = ws.receive(timeout=resume_wait)
        if first is not None:
            kind, value = _parse_client_message(first)
            if kind == "resume":
                start = head if value is None else value
            else:
                pending.append((kind, value))

    # Waiting on the WebSocket's own wake-up event (shared with the subscription) means one
    # thread notices new events, client messages and the client's departure without polling.
    wake = ws.event if isinstance(getattr(ws, "event", None), threading.Event) else None
    # A shaped stream cannot take the hub's shared frames: its events wait in its own queue.
    direct = sink if shape is None else None
    sub = subscribe(channels, start, queue_size=queue_size, wake=wake, sink=direct)
    try:
        _serve(ws, sink, sub, heartbeat, pending, shape)
    except OSError:
        pass  # the client vanished mid-send: nothing to tell it
    finally:
        sub.close()


def _frame(item: Item, shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> bytes:
    if not isinstance(item, LogEvent):
        return text_frame(item.json())
    if shape is None:
        return item.frame()
    return text_frame(_dumps(shape(item.as_dict())))


def _serve(
    ws: Any,
    sink: FrameSink,
    sub: Subscription,
    heartbeat: float,
    pending: list[tuple[str, Any]],
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    # Live events mostly reach the socket from the hub's thread (see app.events.wire); this
    # thread replays, sends what was queued, answers the client and keeps the heartbeat.
    while ws.connected and not sub.closed and not sink.broken:
        sink.flush()
        quiet = max(0.0, sink.last_write + heartbeat - time.monotonic())
        items = sub.get_items(timeout=0.0 if pending else quiet)
        if items:
            try:
                sink.write(b"".join(_frame(item, shape) for item in items))
            finally:
                sub.sent()
        while True:
            if pending:
                kind, value = pending.pop(0)
            else:
                message = ws.receive(timeout=0)
                if message is None:
                    break
                kind, value = _parse_client_message(message)
            _answer(sink, sub, kind, value)
        if time.monotonic() - sink.last_write >= heartbeat:
            sink.send_text(_dumps({"type": "heartbeat", "ts": time.time()}))
    if sub.closed and ws.connected:
        sink.seal()
        ws.close(GOING_AWAY, "server shutting down")


def _answer(sink: FrameSink, sub: Subscription, kind: str, value: Any) -> None:
    if kind == "resume":
        after = head_id(sub.hub.engine) if value is None else value
        sub.seek(after)
        sink.send_text(_dumps({"type": "replay", "last_event_id": after}))
    elif kind == "ping":
        sink.send_text(_dumps({"type": "pong", "ts": time.time()}))
    else:
        sink.send_text(_dumps({"type": "error", **value}))


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


def _server_options() -> dict[str, Any]:
    """simple-websocket's options: protocol pings find a client that vanished silently (one
    unanswered ping closes the socket), and client messages are size-limited.
    ``SOCK_SERVER_OPTIONS`` (flask-sock's setting) overrides them."""
    beat = float(current_app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"])
    options: dict[str, Any] = {
        "ping_interval": max(1.0, beat),
        "max_message_size": MAX_CLIENT_MESSAGE,
    }
    options.update(current_app.config.get("SOCK_SERVER_OPTIONS") or {})
    return options


class _ReaderThread(threading.Thread):
    """simple-websocket's reader thread, as a daemon: a client that never answers the close
    handshake must not keep an exiting worker alive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["daemon"] = True
        super().__init__(*args, **kwargs)


def _finish(ws: Any) -> None:
    """Close the WebSocket; give the client half a second to answer the close, then cut the
    connection so the reader thread ends too."""
    with contextlib.suppress(Exception):  # already closed by either side
        ws.close()
    reader = getattr(ws, "thread", None)
    if reader is not None and reader is not threading.current_thread():
        reader.join(timeout=0.5)
        if reader.is_alive():
            with contextlib.suppress(OSError):
                ws.sock.shutdown(socket.SHUT_RDWR)


def accept_websocket(handler: Callable[[Any], None]) -> Response:
    """Complete the handshake, run ``handler(ws)`` and close; return it from a view declared
    with ``websocket=True``. Validate the request before calling this to answer errors as
    plain HTTP (the handshake then fails with that status); past the worker's stream cap this
    raises the 503 problem before the handshake too."""
    from simple_websocket import ConnectionClosed, Server

    slot = open_stream("websocket")
    g.setdefault(_SLOT, slot)
    try:
        ws = Server(request.environ, thread_class=_ReaderThread, **_server_options())
    except BaseException:
        slot.release()
        raise
    try:
        handler(ws)
    except (ConnectionClosed, OSError):
        pass  # the client left, or vanished mid-send
    except Exception:
        # Never let an error become an HTTP 500 written onto the upgraded socket.
        log.exception("events: WebSocket stream failed")
        with contextlib.suppress(Exception):
            ws.close(INTERNAL_ERROR, "internal error")
    finally:
        slot.release()
    _finish(ws)
    return _WebSocketResponse(ws.mode)
