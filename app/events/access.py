"""Who may open a stream, and how many may be open: the request checks every WebSocket and SSE
route shares (channels, event ids, ``Host`` and ``Origin``) and the per-worker stream cap.

``Host`` and ``Origin`` follow the core's rules (:mod:`app.auth`): the host must be one of this
server's names, and a browser's origin one of its hosts or listed in
``JUNCTION_ALLOWED_ORIGINS`` — never compared with the request's own ``Host``, which a
DNS-rebinding page controls.

Each open stream holds one worker thread for its lifetime, so a worker serves at most
``JUNCTION_STREAMS_MAX_PER_WORKER`` streams (by default its threads less a quarter, at least
one, kept for plain requests); past it a stream request gets a 503 problem with ``Retry-After``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from flask import Flask, Response, current_app, request
from prometheus_client import Gauge

from app import auth
from app.errors import (
    BadRequest,
    Forbidden,
    JunctionError,
    ServiceUnavailable,
    ValidationFailed,
    field_error,
    problem,
)
from app.events.hub import get_hub

CHANNEL_RE = re.compile(r"^[A-Za-z0-9_.:/@-]{1,255}$")
MAX_CHANNELS = 50
MAX_EVENT_ID = 2**63 - 1
#: Where ``gunicorn.conf.py`` tells each worker how many threads it has.
THREADS_ENV = "JUNCTION_WORKER_THREADS"
#: The cap when the server's thread count is unknown (a development server: a thread a request).
UNKNOWN_THREADS_LIMIT = 100
RETRY_AFTER_SECONDS = 5

STREAMS_OPEN = Gauge(
    "junction_streams_open",
    "WebSocket and SSE streams open (summed over live worker processes).",
    ["kind"],
    multiprocess_mode="livesum",
)


# -- query values ----------------------------------------------------------------------------


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


# -- Host and Origin -------------------------------------------------------------------------


def stream_refusal() -> JunctionError | None:
    """Why the current request may not open a stream (a foreign ``Host``: 400; a foreign
    ``Origin``: 403), or ``None``."""
    if auth.host_check_applies() and not auth.host_allowed(request.host):
        return BadRequest(
            "This Host is not a name of this server; add it to JUNCTION_ALLOWED_HOSTS.",
            code="HOST_NOT_ALLOWED",
        )
    if not auth.origin_allowed(request.headers.get("Origin")):
        return Forbidden(
            "This Origin may not open streams here; add its host to JUNCTION_ALLOWED_HOSTS "
            "(or the origin to JUNCTION_ALLOWED_ORIGINS).",
            code="ORIGIN_NOT_ALLOWED",
        )
    return None


def check_websocket_origin() -> Response | None:
    """``before_request``: refuse a WebSocket handshake from a foreign Host or Origin (any
    path), before the connection is accepted, so plugins' flask-sock routes are covered too."""
    if request.environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        return None
    refused = stream_refusal()
    if refused is None:
        return None
    return problem(refused.status, refused.detail, code=refused.code)


# -- the per-worker cap ----------------------------------------------------------------------


def stream_limit(app: Flask | None = None) -> int:
    """How many streams this worker may hold: ``JUNCTION_STREAMS_MAX_PER_WORKER``, else its
    threads less a quarter (at least one thread stays for plain requests)."""
    app = app or current_app
    configured = app.config.get("JUNCTION_STREAMS_MAX_PER_WORKER")
    if configured is not None:
        return int(configured)
    threads = os.environ.get(THREADS_ENV, "")
    if not threads.isdigit() or int(threads) < 1:
        return UNKNOWN_THREADS_LIMIT
    count = int(threads)
    return count - max(1, count // 4)


class StreamSlot:
    """One counted open stream; :meth:`release` it exactly once when the stream ends (later
    calls do nothing)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._hub = get_hub()
        self._held = True
        STREAMS_OPEN.labels(kind).inc()

    def release(self) -> None:
        """The stream ended."""
        if self._held:
            self._held = False
            self._hub.close_stream()
            STREAMS_OPEN.labels(self.kind).dec()


def open_stream(kind: str) -> StreamSlot:
    """Count a new stream of ``kind`` (``websocket`` or ``sse``); raises a 503 problem with
    ``Retry-After`` when the worker holds its limit or is shutting down."""
    hub = get_hub()
    limit = stream_limit()
    if not hub.open_stream(limit):
        if hub.closing:
            code, detail = "SHUTTING_DOWN", "This worker is shutting down; reconnect elsewhere."
        else:
            code, detail = (
                "TOO_MANY_STREAMS",
                f"This worker already serves {limit} streams (JUNCTION_STREAMS_MAX_PER_WORKER); "
                "retry later, or add workers or threads.",
            )
        raise ServiceUnavailable(
            detail,
            code=code,
            retryable=True,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return StreamSlot(kind)
