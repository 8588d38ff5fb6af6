"""Synchronous publish: publish, then wait until *this* correlation has no pending work.

The waiter follows its correlation's event channel (``blackboard:correlation:<id>``), which
every artifact, finished consumption and failure of the correlation is published on, and looks
at the database only when woken: no polling loop, and other correlations never wake it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from app import events
from plugins.blackboard import artifacts as board
from plugins.blackboard import queries


def wait_idle(correlation_id: str, subscription: Any, deadline: float) -> bool:
    """Block until the correlation has no pending work (True) or ``deadline`` passes (False)."""
    while queries.has_pending_work(correlation_id):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        subscription.get(timeout=remaining)  # woken by any event of this correlation
    return True


def publish_and_wait(data: dict[str, Any], dedupe: str | None = None) -> dict[str, Any]:
    """The seed's ``POST /artifacts/sync``: ``{correlation_id, artifacts, completed, duration_ms}``.

    The correlation id is made here (derived from the idempotency key when one is sent, so a
    re-executed request joins the first cascade instead of starting another).
    """
    started = time.monotonic()
    correlation_id = board.derived_id(dedupe, "correlation") if dedupe else str(uuid.uuid4())
    deadline = started + float(data.get("timeout", 30))
    # Subscribe before publishing, so no event of the cascade can slip past the waiter.
    with events.subscribe([board.correlation_channel(correlation_id)]) as subscription:
        board.publish(
            {key: value for key, value in data.items() if key not in {"timeout", "filters"}},
            correlation_id=correlation_id,
            dedupe=dedupe,
        )
        completed = wait_idle(correlation_id, subscription, deadline)
    filters = data.get("filters") or {}
    found = queries.correlation_artifacts(
        correlation_id, filters.get("type_names"), filters.get("produced_by")
    )
    return {
        "correlation_id": correlation_id,
        "artifacts": [board.public(artifact) for artifact in found],
        "completed": completed,
        "duration_ms": round((time.monotonic() - started) * 1000.0, 3),
    }
