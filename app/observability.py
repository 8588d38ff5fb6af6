"""Logging, request ids, Prometheus metrics, ``/healthz`` and ``/readyz``.

Every log record carries ``request_id`` and ``plugin``; ``JUNCTION_LOG_FORMAT=json`` writes one
JSON object a line. Metrics work under several gunicorn workers through prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``gunicorn.conf.py``).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Secrets that may appear in free text: bearer tokens, query-string tokens, API-key headers.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s,'\"]+"),
    re.compile(r"(?i)((?:access_token|token|api_key|apikey|password|secret)=)[^&\s'\"]+"),
    re.compile(r"(?i)((?:x-api-key|x-worker-token|authorization)['\"]?\s*[:=]\s*['\"]?)[^\s,'\"]+"),
)

REQUESTS = Counter(
    "junction_http_requests_total",
    "HTTP requests by method, endpoint (route template) and status.",
    ["method", "endpoint", "status"],
)
LATENCY = Histogram(
    "junction_http_request_duration_seconds",
    "HTTP request latency by method and endpoint.",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_PROGRESS = Gauge(
    "junction_http_requests_in_progress",
    "Requests being served.",
    multiprocess_mode="livesum",
)


def redact(text: str) -> str:
    """Replace anything that looks like a credential in ``text`` with ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


# -- logging ------------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``plugin`` to every record and redacts credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        if not hasattr(record, "plugin"):
            record.plugin = plugin_of(record.name)
        if isinstance(record.msg, str):
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def plugin_of(logger_name: str) -> str:
    """The plugin a logger belongs to: ``plugins.<name>...`` or the request's blueprint."""
    parts = logger_name.split(".")
    if parts[0] == "plugins" and len(parts) > 1:
        return parts[1]
    if has_request_context() and request.blueprint:
        return request.blueprint.split(".")[0]
    return "core"


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "plugin": getattr(record, "plugin", "core"),
        }
        if record.exc_info:
            payload["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def configure_logging(level: str, fmt: str) -> None:
    """Configure the root logger through ``dictConfig``."""
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {"()": JsonFormatter}
    else:
        formatter = {
            "format": "%(asctime)s %(levelname)s [%(plugin)s] [%(request_id)s] %(name)s: "
            "%(message)s"
        }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {"default": formatter},
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "default",
                    "filters": ["context"],
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level.upper(), "handlers": ["console"]},
            "loggers": {
                "werkzeug": {"level": "WARNING"},
                "apscheduler": {"level": "WARNING"},
            },
        }
    )


# -- request ids and metrics --------------------------------------------------------------------


def begin_request() -> None:
    """Adopt the caller's ``X-Request-ID`` (when well-formed) or make one; start the clock."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    IN_PROGRESS.inc()


def end_request(response: Response) -> Response:
    """Echo the request id and record the request's metrics."""
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    started = g.pop("request_started", None)
    if started is not None:
        IN_PROGRESS.dec()
        endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    return response


def metrics_response() -> Response:
    """Prometheus exposition of this process, or of every worker in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, mimetype=CONTENT_TYPE_LATEST)


# -- health -------------------------------------------------------------------------------------

ReadyCheck = Callable[[], Any]

probes = Blueprint("probes", __name__)


@probes.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. No I/O."""
    return Response('{"status":"ok"}', mimetype="application/json")


@probes.get("/readyz")
def readyz() -> Response:
    """Readiness: every core and plugin check passes, else 503 naming the failing ones."""
    checks: dict[str, ReadyCheck] = current_app.extensions["junction"].ready_checks()
    results: dict[str, dict[str, Any]] = {}
    ok = True
    for name, check in checks.items():
        try:
            detail = check()
            results[name] = {"status": "ok"}
            if isinstance(detail, str | dict):
                results[name]["detail"] = detail
        except Exception as exc:
            ok = False
            results[name] = {"status": "failing", "detail": redact(str(exc)) or type(exc).__name__}
    failing = [name for name, result in results.items() if result["status"] != "ok"]
    body = {"status": "ok" if ok else "failing", "checks": results}
    if failing:
        body["failing"] = failing
    return Response(json.dumps(body), status=200 if ok else 503, mimetype="application/json")


@probes.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics."""
    return metrics_response()


def init_observability(app: Flask) -> None:
    """Install request hooks and the probe routes."""
    app.before_request(begin_request)
    app.after_request(end_request)
    app.register_blueprint(probes)
