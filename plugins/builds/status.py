"""Health of the builds plugin: ``GET /api/builds/health`` and the ``/readyz`` check."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db import db
from plugins.builds import queue


def health() -> dict[str, Any]:
    """``{"status": "ok", "queue": {...}}``; raises (503) when the queue backend fails."""
    db.session.execute(sa.select(1))
    try:
        stats = queue.stats()
    except queue.BackendUnavailable:
        raise
    except Exception as exc:  # a backend's own error: report its kind, never its message
        raise queue.BackendUnavailable(
            f"The build queue backend does not answer ({type(exc).__name__})."
        ) from None
    return {"status": "ok", "queue": stats}


def readiness_check() -> str:
    """The ``builds.queue`` readiness check: the backend answers."""
    stats = health()["queue"]
    return f"{stats['backend']}: {stats['length']} queued, {stats['in_flight']} in flight"
