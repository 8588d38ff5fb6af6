"""Server-sent event streams of the event log (``text/event-stream``), for any route.

The SSE half of :mod:`app.events.streams`: same replay, heartbeats, bounded queue, Host/Origin
checks and stream cap as the WebSocket streams; a client that hangs up is noticed within about
:data:`DEAD_CLIENT_CHECK_SECONDS` because its socket turns readable with nothing to read.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, request

from app.events.access import open_stream, parse_event_id, stream_refusal
from app.events.log import Gap, Item
from app.events.publishing import subscribe
from app.state import current_app_object

#: How often an SSE stream checks whether its client has closed the connection.
DEAD_CLIENT_CHECK_SECONDS = 1.0


def _sse_lines(item: Item) -> str:
    if isinstance(item, Gap):
        # No id: a reconnecting EventSource resumes after the last event it did receive, so it
        # gets the dropped events from the log.
        return f"data: {item.json()}\n\n"
    return f"id: {item.id}\ndata: {item.json()}\n\n"


def _client_socket(environ: dict[str, Any]) -> socket.socket | None:
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    return sock if type(sock) is socket.socket else None


def client_gone(sock: socket.socket | None) -> bool:
    """Whether the client closed its end of ``sock`` (a stream's client sends nothing, so a
    readable socket with nothing to read means it hung up). Unknown sockets never count."""
    if sock is None:
        return False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
        if not poller.poll(0):
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


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
    Raises the 400/403 problem of a foreign Host/Origin, and 503 past the worker's stream cap.
    """
    channels = list(dict.fromkeys(channels))
    refused = stream_refusal()
    if refused is not None:
        raise refused
    if last_event_id is None:
        last_event_id = parse_event_id(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    if last_event_id is None:
        last_event_id = parse_event_id(request.args.get("last_event_id"), "last_event_id")
    app = current_app_object()
    beat = float(heartbeat or app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"])
    slot = open_stream("sse")
    try:
        sub = subscribe(channels, last_event_id, queue_size=queue_size)
    except BaseException:
        slot.release()
        raise
    sock = _client_socket(request.environ)

    def generate() -> Iterator[str]:
        try:
            # The retry hint and a comment go out at once so proxies and clients see the
            # stream open before the first event.
            yield f"retry: 3000\n: stream from {sub.cursor}\n\n"
            now = time.monotonic()
            quiet_until, check_at = now + beat, now + DEAD_CLIENT_CHECK_SECONDS
            while not sub.closed:
                items = sub.get_items(timeout=max(0.0, min(quiet_until, check_at) - now))
                if items:
                    yield "".join(_sse_lines(item) for item in items)
                    quiet_until = time.monotonic() + beat
                now = time.monotonic()
                if now >= check_at:
                    if client_gone(sock):
                        return  # frees the thread now, not at the next failing write
                    check_at = now + DEAD_CLIENT_CHECK_SECONDS
                if now >= quiet_until:
                    yield ": heartbeat\n\n"
                    quiet_until = now + beat
        finally:
            sub.close()
            slot.release()

    response = Response(generate(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    response.call_on_close(sub.close)
    response.call_on_close(slot.release)
    return response
