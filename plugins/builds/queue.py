"""The build queue as the API and the worker see it: the configured backend, enqueue with
deduplication, stats, listing and clearing.

The backend is chosen by the ``builds.queue_backend`` setting (default ``file``) among those the
plugins offer through ``junction_builds_queue_backends`` and made once per app.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.errors import JunctionError, ValidationFailed
from app.state import current_app_object
from plugins.builds import metrics
from plugins.builds.config import option
from plugins.builds.names import normalize_name, normalize_version
from plugins.builds.queue_base import ClearNotSupported, QueueBackend, QueueItem, QueueOptions

EXTENSION = "builds_queue"


class BackendUnavailable(JunctionError):
    """503: the configured queue backend is unknown or cannot be reached."""

    status, code, retryable = 503, "BUILDS_QUEUE_UNAVAILABLE", True


def backend_factories(app: Flask) -> dict[str, Any]:
    """``{name: factory}`` offered by every loaded plugin."""
    registry = app.extensions["junction"].registry
    found: dict[str, Any] = {}
    for _plugin, offered in registry.call_each("junction_builds_queue_backends"):
        found.update(offered or {})
    return found


def backend_name() -> str:
    """The configured backend's name (setting ``builds.queue_backend``)."""
    return str(option("queue_backend") or "file")


def get_backend(app: Flask | None = None) -> QueueBackend:
    """The app's queue backend (made on first use)."""
    app = app or current_app_object()
    name = backend_name()
    backend: QueueBackend | None = app.extensions.get(EXTENSION)
    if backend is not None and backend.name != name:
        backend.close()  # the setting changed: make the newly chosen backend
        backend = None
    if backend is None:
        factory = backend_factories(app).get(name)
        if factory is None:
            raise BackendUnavailable(
                f"No build-queue backend named {name!r} is installed; set "
                "JUNCTION_BUILDS_QUEUE_BACKEND to one of: "
                + ", ".join(sorted(backend_factories(app)))
                + "."
            )
        options = QueueOptions(
            config={**app.config, "queue_dir": option("queue_dir")},
            instance_path=Path(app.instance_path),
            clock=app.extensions.get("builds_clock") or time.time,
        )
        backend = factory(options)
        app.extensions[EXTENSION] = backend
    return backend


def backend_details() -> dict[str, Any]:
    """The configured backend's own settings for ``GET /config`` (a backend may offer them
    with a ``describe()`` method, credentials left out), or why it is unavailable."""
    try:
        backend = get_backend()
    except JunctionError as exc:
        return {"available": False, "reason": exc.detail}
    except Exception as exc:  # a backend's own error: its kind, never its message
        return {"available": False, "reason": f"the backend failed to start ({type(exc).__name__})"}
    describe = getattr(backend, "describe", None)
    return {"available": True, **(dict(describe()) if callable(describe) else {})}


def item_dict(item: QueueItem, now: float | None = None) -> dict[str, Any]:
    """The seed's queue item (plus ``id``, ``attempts`` and ``leased``)."""

    def at(seconds: float | None) -> dt.datetime | None:
        return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)

    leased = item.leased_until is not None and (now is None or item.leased_until > now)
    return {
        "id": item.id,
        "package": item.package,
        "version": item.version,
        "python_tag": item.python_tag,
        "platform_tag": item.platform_tag,
        "recipes": item.recipes,
        "enqueued_at": at(item.enqueued_at),
        "attempts": item.attempts,
        "leased": leased,
        "leased_until": at(item.leased_until) if leased else None,
    }


def enqueue(body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Queue a build (the seed's body); ``(item, created)`` — not created when the same
    package, version and tags are already queued or building."""
    item = QueueItem(
        id=uuid.uuid4().hex,
        package=normalize_name(body["package"], "package"),
        version=normalize_version(body["version"]),
        python_tag=body.get("python_tag"),
        platform_tag=body.get("platform_tag"),
        recipes={k: list(v) for k, v in (body.get("recipes") or {}).items()},
    )
    backend = get_backend()
    stored, created = backend.enqueue(item)
    if created:
        metrics.ENQUEUED.inc()
    return item_dict(stored, _now()), created


def _now() -> float:
    """Wall-clock seconds (the test clock when ``app.extensions["builds_clock"]`` is set)."""
    return float((current_app.extensions.get("builds_clock") or time.time)())


def stats() -> dict[str, Any]:
    """Length, in flight, oldest age (seconds) and the backend."""
    s = get_backend().stats()
    now = _now()
    metrics.QUEUE_LENGTH.set(s.length)
    metrics.QUEUE_IN_FLIGHT.set(s.in_flight)
    return {
        "backend": s.backend,
        "length": s.length,
        "in_flight": s.in_flight,
        "oldest_age_seconds": None
        if s.oldest_enqueued_at is None
        else max(0.0, now - s.oldest_enqueued_at),
        "supports_clear": s.supports_clear,
    }


def list_items(limit: int, offset: int) -> dict[str, Any]:
    """Queued and building items, oldest first."""
    backend = get_backend()
    now = _now()
    s = backend.stats()
    return {
        "items": [item_dict(i, now) for i in backend.items(limit, offset)],
        "total": s.length + s.in_flight,
        "limit": limit,
        "offset": offset,
    }


def clear() -> dict[str, Any]:
    """Empty the queue; 422 saying why where the backend cannot (Kafka)."""
    backend = get_backend()
    try:
        return {"cleared": backend.clear(), "backend": backend.name}
    except ClearNotSupported as exc:
        raise ValidationFailed(
            str(exc) or f"The {backend.name} queue backend cannot be cleared.",
            code="BUILDS_QUEUE_CLEAR_UNSUPPORTED",
        ) from None
