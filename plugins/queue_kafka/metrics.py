"""The ``kafka`` backend's figures in the core's ``/metrics`` (updated at each readiness probe,
like the builds queue gauges)."""

from __future__ import annotations

from prometheus_client import Gauge

LAG = Gauge(
    "junction_queue_kafka_lag_records",
    "Records of the queue topic after the consumer group's committed offsets.",
    multiprocess_mode="livemax",
)
OLDEST_AGE = Gauge(
    "junction_queue_kafka_oldest_age_seconds",
    "Age of the oldest item waiting on the Kafka build queue.",
    multiprocess_mode="livemax",
)
REDELIVERIES = Gauge(
    "junction_queue_kafka_redeliveries",
    "Leases of pending-window items that were not their first (since the committed offsets).",
    multiprocess_mode="livemax",
)
IN_FLIGHT = Gauge(
    "junction_queue_kafka_in_flight",
    "Items leased by workers on the Kafka build queue.",
    multiprocess_mode="livemax",
)
LENGTH = Gauge(
    "junction_queue_kafka_length",
    "Items waiting on the Kafka build queue.",
    multiprocess_mode="livemax",
)
