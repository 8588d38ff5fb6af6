"""WSGI app for the events e2e tests and benchmark: the normal app with test-sized options.

``JUNCTION_TEST_EVENTS_<OPTION>`` sets the events option ``EVENTS_<OPTION>`` (poll interval,
Redis channel, heartbeat...), which the configuration file does not declare.
"""

import os

from app import create_app

app = create_app()
for _name in (
    "EVENTS_POLL_SECONDS",
    "EVENTS_REDIS_CHANNEL",
    "EVENTS_PG_CHANNEL",
    "EVENTS_HEARTBEAT_SECONDS",
    "EVENTS_WS_RESUME_WAIT",
    "EVENTS_QUEUE_SIZE",
):
    _value = os.environ.get(f"JUNCTION_TEST_{_name}")
    if _value:
        app.config[f"JUNCTION_{_name}"] = _value
