"""The builds figures in the core's ``/metrics`` (prometheus_client, default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS = Counter("junction_builds_events_total", "Build events ingested, by status.", ["status"])
ENQUEUED = Counter(
    "junction_builds_queue_enqueued_total", "Items put on the build queue (not duplicates)."
)
LOGS = Counter("junction_builds_logs_total", "Build logs stored.")
LOG_BYTES = Counter("junction_builds_log_bytes_total", "Uncompressed bytes of stored build logs.")
QUEUE_LENGTH = Gauge(
    "junction_builds_queue_length",
    "Items waiting on the build queue at the last look.",
    multiprocess_mode="livemax",
)
QUEUE_IN_FLIGHT = Gauge(
    "junction_builds_queue_in_flight",
    "Items leased by workers at the last look.",
    multiprocess_mode="livemax",
)
TRIGGERS = Counter(
    "junction_builds_worker_triggers_total",
    "Worker triggers, by mode and outcome.",
    ["mode", "outcome"],
)
