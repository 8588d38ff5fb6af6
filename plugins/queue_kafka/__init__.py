"""The ``queue_kafka`` plugin: the ``kafka`` build-queue backend of the ``builds`` plugin.

Select it with the builds setting ``queue_backend=kafka`` (``JUNCTION_BUILDS_QUEUE_BACKEND``);
its own settings (namespace ``queue_kafka``) say where the topic is. Hook implementations only;
the backend is :mod:`plugins.queue_kafka.backend` (docs/queue_kafka.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def junction_builds_queue_backends() -> Mapping[str, Callable[..., Any]]:
    """The ``kafka`` backend."""
    from plugins.queue_kafka.factory import kafka_backend

    return {"kafka": kafka_backend}


@hookimpl
def junction_settings() -> Mapping[str, Any]:
    """Bootstrap servers, topic, consumer group, partitions, SASL credentials, timeout."""
    from plugins.queue_kafka.config import DECLARATION

    return DECLARATION


@hookimpl
def junction_health_checks() -> Mapping[str, Callable[[], Any]]:
    """``queue_kafka.broker``: the topic answers (when ``kafka`` is the selected backend)."""
    from plugins.queue_kafka.health import broker_check

    return {"broker": broker_check}
