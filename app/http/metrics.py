"""Prometheus metrics of the outbound HTTP client, per service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "junction_http_client_requests_total",
    "Outbound HTTP requests (each attempt) by service, method and status class "
    "(2xx..5xx, timeout, error).",
    ["service", "method", "status_class"],
)
LATENCY = Histogram(
    "junction_http_client_request_duration_seconds",
    "Outbound HTTP request latency (each attempt) by service and method.",
    ["service", "method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RETRIES = Counter(
    "junction_http_client_retries_total",
    "Outbound HTTP retries by service and reason (status code, timeout, connect, ...).",
    ["service", "reason"],
)
THROTTLED = Counter(
    "junction_http_client_throttled_seconds_total",
    "Seconds spent waiting for the rate limit (token bucket or server-announced pause).",
    ["service"],
)
