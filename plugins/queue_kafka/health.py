"""The ``queue_kafka.broker`` readiness check, which also refreshes the ``/metrics`` figures."""

from __future__ import annotations

from flask import current_app

from plugins.builds import queue
from plugins.queue_kafka import metrics
from plugins.queue_kafka.backend import KafkaQueue


def broker_check() -> str:
    """Healthy when ``kafka`` is not the selected backend, or when its topic answers."""
    if queue.backend_name() != "kafka":
        return "not the selected build-queue backend"
    backend = queue.get_backend()
    if not isinstance(backend, KafkaQueue):
        return "not the selected build-queue backend"
    try:
        figures = backend.figures()
    except Exception as exc:  # the client's message may carry broker addresses: kind only
        raise RuntimeError(
            f"the Kafka build queue does not answer ({type(exc).__name__})"
        ) from None
    now = backend.clock()
    oldest = figures["oldest_enqueued_at"]
    metrics.LENGTH.set(figures["length"])
    metrics.IN_FLIGHT.set(figures["in_flight"])
    metrics.LAG.set(figures["lag"])
    metrics.OLDEST_AGE.set(0 if oldest is None else max(0.0, now - oldest))
    metrics.REDELIVERIES.set(figures["redeliveries"])
    current_app.logger.debug("queue_kafka figures %s", figures)
    return f"topic {backend.settings.topic}: lag {figures['lag']} records"
