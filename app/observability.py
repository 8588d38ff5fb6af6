"""Logging, request ids, Prometheus metrics, ``/healthz``, ``/readyz`` and ``/metrics``.

Every log record carries ``request_id`` and ``plugin``; ``JUNCTION_LOG_FORMAT=json`` writes one
JSON object a line. Anything that looks like a credential (bearer tokens, ``token=`` query
parameters, API-key headers) is replaced by ``***`` before a record is written.

Metrics work under several gunicorn workers through prometheus_client's multiprocess mode: when
``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py`` sets it) every worker writes its samples
to files in that folder and ``/metrics`` sums them, whichever worker answers the scrape. The
request metrics themselves, and how requests count into them, are in :mod:`app.request_metrics`.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import random
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from flask import Blueprint, Flask, Response, current_app, g, has_request_context, request

from app import auth, request_metrics
from app.namespaces import owner_of_module, plugin_packages
from app.redaction import redact
from app.state import current_request_object

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
# What we adopt from a caller: short, printable, no spaces — safe in logs and headers.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

UNMATCHED_ENDPOINT = "<unmatched>"

# Logger-name prefixes of plugin modules -> plugin name, and the names of loaded plugins (for
# blueprints). Process-wide: a record may be written where no app context exists.
_PLUGIN_MODULES: dict[str, str] = {}
_PLUGIN_NAMES: set[str] = set()


def current_request_id() -> str | None:
    """The id of the request being served, or ``None`` outside a request."""
    return g.get("request_id") if has_request_context() else None


# -- logging ------------------------------------------------------------------------------------


# Loggers whose INFO lines are noise when written while serving a request: the readiness
# probe's schema check opens an Alembic migration context on every call. (``db upgrade`` runs
# outside a request and keeps its "Running upgrade ..." lines.)
_QUIET_IN_REQUESTS = frozenset({"alembic.runtime.migration"})


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``plugin`` to every record and redacts credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; drops only probe noise (see ``_QUIET_IN_REQUESTS``)."""
        if (
            record.name in _QUIET_IN_REQUESTS
            and record.levelno <= logging.INFO
            and has_request_context()
        ):
            return False
        if not hasattr(record, "request_id"):
            record.request_id = _request_id_of(record)
        if not hasattr(record, "plugin"):
            record.plugin = plugin_of(record.name)
        if isinstance(record.msg, str):
            try:
                message = record.getMessage()
            except Exception:  # a bad format call is reported by the handler, not raised here
                return True
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def _request_id_of(record: logging.LogRecord) -> str:
    if has_request_context():
        return g.get("request_id") or "-"
    # gunicorn's access log is written after the request, from the atoms of its format.
    if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
        return str(record.args.get("{x-request-id}o", "-"))
    return "-"


def plugin_of(logger_name: str) -> str:
    """The plugin a logger belongs to, ``"core"`` when none.

    ``plugins.<name>...`` is a built-in plugin; other names are matched against the module of
    each loaded plugin; inside a request, a plugin's blueprint names it.
    """
    parts = logger_name.split(".")
    if parts[0] == "plugins" and len(parts) > 1:
        return parts[1]
    owner = owner_of_module(logger_name, _PLUGIN_MODULES)
    if owner is not None:
        return owner
    if has_request_context() and request.blueprint:
        root = request.blueprint.split(".")[0]
        if root in _PLUGIN_NAMES:
            return root
    return "core"


def register_plugin_modules(plugins: Mapping[str, str]) -> None:
    """Remember ``{plugin name: module path}`` so their loggers are labelled with the plugin."""
    _PLUGIN_NAMES.update(plugins)
    _PLUGIN_MODULES.update(plugin_packages(plugins))


def _timestamp(record: logging.LogRecord) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z"
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, request_id, plugin[, exc_info]."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise ``record`` as a single line of JSON, credentials redacted."""
        payload: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
            "plugin": getattr(record, "plugin", "core"),
        }
        if record.exc_info:
            payload["exc_info"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack_info"] = redact(self.formatStack(record.stack_info))
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """The human format; redacts the whole line, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then redact credentials anywhere in the result."""
        return redact(super().format(record))


# Where ``configure_logging`` writes unless told otherwise (tests point it at a buffer).
DEFAULT_STREAM: IO[str] | str = "ext://sys.stderr"

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(plugin)s] [%(request_id)s] %(name)s: %(message)s"


class JunctionHandler(logging.StreamHandler[IO[str]]):
    """The console handler ``configure_logging`` installs (a class of its own to find it again)."""


def logging_config(level: str, fmt: str, stream: IO[str] | str | None = None) -> dict[str, Any]:
    """The ``dictConfig`` document for the root logger (also used by ``gunicorn.conf.py``)."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if fmt == "json" else {"()": TextFormatter, "format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "()": JunctionHandler,
                "formatter": "default",
                "filters": ["context"],
                "stream": stream or DEFAULT_STREAM,
            }
        },
        "root": {"level": level.upper(), "handlers": ["console"]},
        "loggers": {
            "werkzeug": {"level": "WARNING"},
            "apscheduler": {"level": "WARNING"},
        },
    }


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    """Configure the root logger through ``dictConfig``: one console handler, our format.

    Called by every ``create_app``; it replaces its own previous handler and stdlib console
    handlers (which would print each line twice) but keeps other handlers that were on the root
    logger, such as a test runner's capture handler.
    """
    root = logging.getLogger()
    kept = [handler for handler in root.handlers if not _replaced_on_configure(handler)]
    logging.config.dictConfig(logging_config(level, fmt, stream))
    for handler in kept:
        if handler not in root.handlers:
            root.addHandler(handler)


def _replaced_on_configure(handler: logging.Handler) -> bool:
    if isinstance(handler, JunctionHandler):
        return True
    console_streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return type(handler) is logging.StreamHandler and handler.stream in console_streams


# -- request ids and metrics --------------------------------------------------------------------


# Request ids come from a generator of their own, not os.urandom: its getrandom() call lets go
# of the GIL, and under gthread each request then waited its turn to take it back (a py-spy
# profile put a quarter of /healthz's Flask time there). A request id correlates log lines and is
# no secret. Not the random module's shared generator either: whoever seeds that (a plugin,
# hypothesis in tests) would make ids repeat. Reseeded in every forked child (gunicorn's workers).
_REQUEST_IDS = random.Random()
os.register_at_fork(after_in_child=_REQUEST_IDS.seed)


def new_request_id() -> str:
    """A fresh request id: 32 random hex digits (the form of a UUID4's hex, without building
    a ``UUID`` object on every request)."""
    return f"{_REQUEST_IDS.getrandbits(128):032x}"


def begin_request() -> None:
    """Adopt the caller's ``X-Request-ID`` (when well-formed) or make one; start the clock."""
    # Every request runs this: read the environ directly and resolve ``g`` once (each proxy
    # access is a context-variable lookup, and Werkzeug's header view is slower still).
    incoming = request.environ.get(_REQUEST_ID_ENVIRON, "")
    context = g._get_current_object()
    context.request_id = (
        incoming if incoming and _REQUEST_ID_RE.match(incoming) else new_request_id()
    )
    context.request_started = time.perf_counter()
    tally = context.request_tally = request_metrics.tally()
    tally.active += 1


def end_request(response: Response) -> Response:
    """Echo the request id and count the request with its latency."""
    context = g._get_current_object()
    if not context.get("request_id"):
        context.request_id = new_request_id()
    response.headers[REQUEST_ID_HEADER] = context.request_id
    started = context.pop("request_started", None)
    if started is not None:
        req = current_request_object()
        rule = req.url_rule
        request_metrics.record(
            context.request_tally,
            req.method,
            rule.rule if rule else UNMATCHED_ENDPOINT,
            response.status_code,
            time.perf_counter() - started,
        )
    return response


def finish_request(_exc: BaseException | None) -> None:
    """``teardown_request``: the request is no longer in progress, even when a later hook
    raised."""
    tally = g.pop("request_tally", None)
    if tally is not None:
        tally.active -= 1


# -- health -------------------------------------------------------------------------------------

ReadyCheck = Callable[[], Any]

probes = Blueprint("probes", __name__)


@probes.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. No I/O."""
    return Response('{"status":"ok"}', mimetype="application/json")


def run_checks(checks: Mapping[str, ReadyCheck]) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every check; a check passes by returning and fails by raising.

    Returns ``(all passed, {name: {status, duration_ms, detail?}})``; a failure's detail is its
    message, redacted (checks are told to keep secrets out, this makes sure).
    """
    results: dict[str, dict[str, Any]] = {}
    ok = True
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            detail = check()
        except Exception as exc:
            ok = False
            results[name] = {"status": "failing", "detail": redact(str(exc)) or type(exc).__name__}
        else:
            results[name] = {"status": "ok"}
            if isinstance(detail, str | dict):
                results[name]["detail"] = detail
        results[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return ok, results


@probes.get("/readyz")
def readyz() -> Response:
    """Readiness: the database answers, the schema is at every head and every plugin check
    passes; else 503 with ``failing`` naming the checks that did not.

    Anyone may ask (probes carry no credentials), so the open answer is the status and the
    failing check names only; each check's ``detail`` (a scheduler's pid, counts of stored
    secrets...) goes to an operator alone: a bearer-token holder, or without tokens a direct
    loopback client (``app.auth.is_operator``).
    """
    ok, results = run_checks(current_app.extensions["junction"].ready_checks())
    body: dict[str, Any] = {"status": "ok" if ok else "failing"}
    if not ok:
        body["failing"] = [name for name, result in results.items() if result["status"] != "ok"]
    if auth.is_operator():
        body["checks"] = results
    return Response(json.dumps(body), status=200 if ok else 503, mimetype="application/json")


@probes.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics (text exposition format)."""
    return request_metrics.metrics_response()


def init_observability(app: Flask) -> None:
    """Install the request hooks and the probe routes, and label plugin loggers."""
    state = app.extensions.get("junction")
    if state is not None:
        register_plugin_modules({info.name: info.module for info in state.registry.infos.values()})
    request_metrics.configure(app.config["JUNCTION_METRICS_FLUSH_SECONDS"])
    app.before_request(begin_request)
    app.after_request(end_request)
    app.teardown_request(finish_request)
    app.register_blueprint(probes)
