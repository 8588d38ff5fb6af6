"""The PostgreSQL queue's figures in the core's ``/metrics``, refreshed by every ``stats()`` (the
``/readyz`` check and the queue API call it)."""

from __future__ import annotations

from prometheus_client import Gauge

from plugins.builds.queue_base import QueueStats

LENGTH = Gauge(
    "junction_queue_postgres_length",
    "Items waiting on the PostgreSQL queue.",
    multiprocess_mode="livemax",
)
IN_FLIGHT = Gauge(
    "junction_queue_postgres_in_flight",
    "Items leased from the PostgreSQL queue.",
    multiprocess_mode="livemax",
)
OLDEST_AGE = Gauge(
    "junction_queue_postgres_oldest_age_seconds",
    "Age of the oldest waiting item of the PostgreSQL queue.",
    multiprocess_mode="livemax",
)
REDELIVERIES = Gauge(
    "junction_queue_postgres_redeliveries",
    "Leases of items leased before (expired or nacked), since the queue was created.",
    multiprocess_mode="livemax",
)


def observe(stats: QueueStats, now: float) -> None:
    """Publish ``stats`` as the gauges above."""
    LENGTH.set(stats.length)
    IN_FLIGHT.set(stats.in_flight)
    oldest = stats.oldest_enqueued_at
    OLDEST_AGE.set(0.0 if oldest is None else max(0.0, now - oldest))
    REDELIVERIES.set(stats.redeliveries or 0)
