"""Errors as RFC 9457 problem documents.

Services raise :class:`JunctionError` subclasses (they know no HTTP beyond a status number);
the handlers here turn those, every Werkzeug ``HTTPException`` and any unexpected exception
into ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``, ``code``,
``correlation_id``, ``retryable`` and, for validation, ``errors: [{field, message, code}]``.

Plugins may add members to every problem an app answers with :func:`add_problem_hook` (the
blackboard plugin adds its seed's ``message`` and ``details`` under ``/api/v1/``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, g, has_app_context, has_request_context, json
from werkzeug.exceptions import HTTPException

from app.validation import validation_status

PROBLEM_MIME = "application/problem+json"
PROBLEM_HOOKS = "junction.problem_hooks"

#: A problem hook gets the document (a dict) before it is serialised and may add members.
ProblemHook = Callable[[dict[str, Any]], None]

log = logging.getLogger(__name__)

# Machine codes for the plain HTTP errors; services choose their own for domain errors.
HTTP_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    428: "PRECONDITION_REQUIRED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
# The code of a request that failed validation, whichever status its blueprint answers with.
VALIDATION_CODE = "VALIDATION_ERROR"


class JunctionError(Exception):
    """Base of errors that become problem documents.

    ``detail`` is shown to the caller, so it must say what to do and never hold a secret.
    ``extra`` adds members to the document (the Jira plugin adds ``error_category``...).
    """

    status: int = 400
    code: str = "BAD_REQUEST"
    title: str | None = None
    retryable: bool | None = None

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        errors: Iterable[dict[str, Any]] | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        if retryable is not None:
            self.retryable = retryable
        self.errors = list(errors) if errors is not None else None
        self.headers = headers or {}
        self.extra = extra


class BadRequest(JunctionError):
    """400: the request cannot be understood as sent."""

    status, code = 400, "BAD_REQUEST"


class Unauthorized(JunctionError):
    """401: credentials are missing or invalid."""

    status, code = 401, "UNAUTHORIZED"


class Forbidden(JunctionError):
    """403: the caller may not do this."""

    status, code = 403, "FORBIDDEN"


class NotFound(JunctionError):
    """404: the named resource does not exist."""

    status, code = 404, "NOT_FOUND"


class Conflict(JunctionError):
    """409: the request conflicts with the current state."""

    status, code = 409, "CONFLICT"
    # A state conflict does not go away by itself; in-flight conflicts set retryable=True.
    retryable = False


class ValidationFailed(JunctionError):
    """422: well-formed but invalid; ``errors`` lists each field.

    With the default code (``VALIDATION_ERROR``) the answer takes the validation status of the
    blueprint serving the request (:func:`app.blueprint.validation_status`: 422 unless the
    blueprint chose 400); a subclass or a call with a code of its own keeps its status.
    """

    status, code = 422, VALIDATION_CODE


class UpstreamError(JunctionError):
    """502: an external service failed or answered unexpectedly."""

    status, code = 502, "UPSTREAM_ERROR"


class ServiceUnavailable(JunctionError):
    """503: a dependency is temporarily unavailable; retry later."""

    status, code = 503, "SERVICE_UNAVAILABLE"


def field_error(field: str, message: str, code: str = "invalid") -> dict[str, str]:
    """One entry of a problem's ``errors`` list."""
    return {"field": field, "message": message, "code": code}


def problem(
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    retryable: bool | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Build a problem+json response carrying the request's correlation id."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = code or HTTP_CODES.get(status, f"HTTP_{status}")
    body: dict[str, Any] = {
        "type": "about:blank" if code == HTTP_CODES.get(status) else f"urn:junction:{code.lower()}",
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
        "code": code,
        "correlation_id": g.get("request_id") if has_request_context() else None,
        "retryable": status in RETRYABLE_STATUSES if retryable is None else retryable,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    _run_hooks(body)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIME)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def add_problem_hook(app: Flask, hook: ProblemHook) -> None:
    """Call ``hook(body)`` on every problem document ``app`` answers, before it is sent.

    The extension point for plugins that add members (call it from ``junction_startup``). A
    hook adds or rewrites extension members and may replace ``code``; it must keep the RFC 9457
    members (``type``, ``title``, ``status``, ``detail``). A hook that raises is logged and
    skipped: an error answer never becomes a 500 because of a hook.
    """
    app.extensions.setdefault(PROBLEM_HOOKS, []).append(hook)


def _run_hooks(body: dict[str, Any]) -> None:
    if not has_app_context():
        return
    for hook in current_app.extensions.get(PROBLEM_HOOKS, ()):
        try:
            hook(body)
        except Exception:
            log.exception("problem hook %r failed", hook)


WEBARGS_LOCATIONS = frozenset({"json", "query", "form", "headers", "files", "path", "view_args"})


def flatten_messages(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn marshmallow's nested messages into ``[{field, message, code}]``.

    Nested fields are joined with dots (``steps.0``); ``_schema`` errors are reported on the
    enclosing field (``""`` for the whole body).
    """
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "" if str(key) == "_schema" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.extend(flatten_messages(value, path))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            for message in messages:
                out.append(field_error(prefix, message, _code_for(message)))
        else:
            for message in messages:
                out.extend(flatten_messages(message, prefix))
    else:
        out.append(field_error(prefix, str(messages), _code_for(str(messages))))
    return out


def flatten_webargs_messages(messages: Any) -> list[dict[str, str]]:
    """Like :func:`flatten_messages` for webargs errors, which are keyed by location first.

    Locations (``json``, ``query``...) are dropped from the field path: a client names fields,
    not parsers. Only the outer level is a location, so a body field called ``path`` keeps its
    name.
    """
    if isinstance(messages, dict) and messages and set(map(str, messages)) <= WEBARGS_LOCATIONS:
        out: list[dict[str, str]] = []
        for value in messages.values():
            out.extend(flatten_messages(value))
        return out
    return flatten_messages(messages)


def _code_for(message: str) -> str:
    lowered = message.lower()
    if "missing data for required field" in lowered:
        return "required"
    if "unknown field" in lowered:
        return "unknown_field"
    if "not a valid" in lowered:
        return "invalid_type"
    if "not an existing directory" in lowered or lowered == "not a directory":
        return "not_a_directory"
    return "invalid"


def handle_http_exception(error: HTTPException) -> Response:
    """Problem document for a Werkzeug/flask-smorest ``HTTPException``."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    headers = {}
    # Only werkzeug's MethodNotAllowed carries valid_methods; other 405s have no Allow to send.
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(sorted(valid_methods))
    if messages is not None:
        errors = flatten_webargs_messages(messages)
        if status == 400 and any("invalid json" in e["message"].lower() for e in errors):
            return problem(
                400,
                "The request body is not valid JSON.",
                code="MALFORMED_JSON",
                headers=headers,
            )
        text = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
        # webargs aborts with the blueprint's validation status (400 or 422): the code says
        # what happened either way.
        return problem(status, text or None, code=VALIDATION_CODE, errors=errors, headers=headers)
    detail = (data.get("message") if isinstance(data, dict) else None) or error.description
    return problem(status, detail, headers=headers)


def handle_junction_error(error: JunctionError) -> Response:
    """Problem document for a domain error raised by a service."""
    status = error.status
    if status == ValidationFailed.status and error.code == VALIDATION_CODE:
        status = validation_status()
    return problem(
        status,
        error.detail,
        code=error.code,
        title=error.title,
        errors=error.errors,
        retryable=error.retryable,
        headers=error.headers,
        **error.extra,
    )


def handle_unexpected(error: Exception) -> Response:
    """500 without a stack trace in the body; the trace goes to the log with the request id."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error: %s", type(error).__name__)
    return problem(
        500,
        "An internal error occurred. Quote the correlation_id when reporting it.",
    )


def handle_database_data_error(error: Exception) -> Response:
    """422 for a value the database refuses (out of range, unencodable); nothing is written.

    Schemas should reject such values first; this is the net under them, so a value that
    slips through is the caller's 4xx rather than a 500.
    """
    _rollback()
    log.warning("database refused a value: %s", type(getattr(error, "orig", error)).__name__)
    return problem(
        422,
        "A value is out of range or not storable; check the sizes and characters sent.",
        code="INVALID_VALUE",
    )


def handle_integrity_error(error: Exception) -> Response:
    """409 for a constraint the database enforces (a unique name taken by a concurrent request)."""
    _rollback()
    log.warning("constraint violation: %s", type(getattr(error, "orig", error)).__name__)
    return problem(
        409,
        "The change conflicts with existing data (a unique or referential constraint).",
        code="CONFLICT",
    )


def _rollback() -> None:
    from app.db import db

    try:
        db.session.rollback()
    except Exception:  # the connection may be gone; the session is removed at teardown anyway
        log.debug("rollback after a database error failed", exc_info=True)


def register_error_handlers(app: Flask) -> None:
    """Install the problem+json handlers on ``app``."""
    from sqlalchemy.exc import DataError, IntegrityError

    app.register_error_handler(JunctionError, handle_junction_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DataError, handle_database_data_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(Exception, handle_unexpected)
