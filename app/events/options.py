"""The events options and their defaults."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

# Options with their defaults. Each is read from ``app.config["JUNCTION_<NAME>"]`` when set
# (tests and embedding set those directly), else from the resolved configuration
# (``app.config["JUNCTION"]``, for the keys app/config.py declares), else the default below.
DEFAULTS: dict[str, Any] = {
    "EVENTS_HEARTBEAT_SECONDS": 25.0,
    "EVENTS_QUEUE_SIZE": 100,
    # The safety net: how often the dispatcher re-reads the log without a notification.
    "EVENTS_POLL_SECONDS": 1.0,
    # How long a WebSocket waits for the client's optional first {"last_event_id": N} message.
    "EVENTS_WS_RESUME_WAIT": 1.0,
    "EVENTS_REDIS_CHANNEL": "junction:events",
    "EVENTS_PG_CHANNEL": "junction_events",
    "EVENTS_PRUNE_INTERVAL": 300,
}


def option(name: str, app: Flask | None = None) -> Any:
    """The value of an events option (see :data:`DEFAULTS`) for ``app`` or the current app."""
    app = app or current_app
    # A per-app override (tests, embedding) wins over the configuration keys.
    override = app.config.get(f"JUNCTION_{name}")
    if override is not None:
        return override
    declared = app.config.get("JUNCTION", {}).get(name)
    return declared if declared is not None else DEFAULTS[name]
