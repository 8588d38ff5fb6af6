"""Making the Redis backend from the app's settings, and its readiness check."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context

from app import settings
from plugins.builds.queue_base import QueueOptions
from plugins.queue_redis.backend import DEFAULT_PREFIX, RedisQueue

NAMESPACE = "queue_redis"

DECLARATION: dict[str, Any] = {
    "namespace": NAMESPACE,
    "fields": {
        "url": {
            "type": "str",
            "secret": True,
            "scope": "global",
            "help": "Redis URL of the build queue (may carry a password); default "
            "JUNCTION_REDIS_URL.",
        },
        "prefix": {
            "type": "str",
            "default": DEFAULT_PREFIX,
            "scope": "global",
            "help": "Key prefix (a hash tag: every key of the queue is in one cluster slot).",
        },
    },
}


class RedisNotConfigured(Exception):
    """Neither ``queue_redis.url`` nor ``JUNCTION_REDIS_URL`` is set."""


def _setting(key: str) -> Any:
    return settings.get(NAMESPACE, key) if has_app_context() else None


def redis_backend(options: QueueOptions) -> RedisQueue:
    """The ``redis`` backend's factory: the URL of setting ``queue_redis.url`` or
    ``JUNCTION_REDIS_URL``, the key prefix of ``queue_redis.prefix``."""
    url = _setting("url") or options.config.get("JUNCTION_REDIS_URL")
    if not url:
        from plugins.builds.queue import BackendUnavailable

        raise BackendUnavailable(
            "The redis build-queue backend needs a Redis URL: set JUNCTION_REDIS_URL or the "
            "setting queue_redis.url."
        )
    prefix = _setting("prefix") or DEFAULT_PREFIX
    return RedisQueue(str(url), prefix=str(prefix), clock=options.clock)


def readiness_check() -> str:
    """``queue_redis.connection``: when the build queue is on Redis, the server answers."""
    from plugins.builds.queue import backend_name, get_backend

    if backend_name() != "redis":
        return "not selected (builds.queue_backend is not redis)"
    backend = get_backend(current_app)
    assert isinstance(backend, RedisQueue)
    backend.ping()
    stats = backend.stats()
    return f"{stats.length} queued, {stats.in_flight} in flight, {stats.redeliveries} redelivered"
