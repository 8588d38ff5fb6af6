"""The ``queue_redis`` plugin: the ``redis`` build-queue backend of the ``builds`` plugin.

Hook implementations only; the queue is in :mod:`plugins.queue_redis.backend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.2.0"


@hookimpl
def junction_builds_queue_backends() -> Mapping[str, Callable[..., Any]]:
    """The ``redis`` backend (select it with ``builds.queue_backend = redis``)."""
    from plugins.queue_redis.service import redis_backend

    return {"redis": redis_backend}


@hookimpl
def junction_settings() -> Mapping[str, Any]:
    """``queue_redis.url`` (secret) and ``queue_redis.prefix``."""
    from plugins.queue_redis.service import DECLARATION

    return DECLARATION


@hookimpl
def junction_health_checks() -> Mapping[str, Callable[[], Any]]:
    """``queue_redis.connection``: the Redis of the build queue answers (when selected)."""
    from plugins.queue_redis.service import readiness_check

    return {"connection": readiness_check}
