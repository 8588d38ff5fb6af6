"""The seed's error model on ``/api/v1/*``, on top of the core's problem documents.

Every problem answered under ``/api/v1/`` keeps its RFC 9457 members and gains the seed's
``message`` (the ``detail``) and ``details`` (the ``errors``, ``[]`` when none); its ``code`` is
one of the seed's (``VALIDATION_ERROR``, ``NOT_FOUND``, ``IDEMPOTENCY_CONFLICT``, ``TIMEOUT``,
``INTERNAL_ERROR``) when the status maps to one, the core's more precise code moving to
``reason``. Installed with :func:`app.errors.add_problem_hook`.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

PREFIX = "/api/v1/"
SEED_CODES = frozenset(
    {"VALIDATION_ERROR", "NOT_FOUND", "IDEMPOTENCY_CONFLICT", "TIMEOUT", "INTERNAL_ERROR"}
)
_BY_STATUS = {
    400: "VALIDATION_ERROR",
    404: "NOT_FOUND",
    422: "VALIDATION_ERROR",
    500: "INTERNAL_ERROR",
    504: "TIMEOUT",
}


def seed_code(code: str, status: int) -> str:
    """The seed's code for a core ``code`` answered with ``status``."""
    if code in SEED_CODES:
        return code
    if code.startswith("IDEMPOTENCY_") and status in (409, 422):
        return "IDEMPOTENCY_CONFLICT"
    return _BY_STATUS.get(status, code)


def seed_members(body: dict[str, Any]) -> None:
    """Problem hook: add the seed's members to a problem answered under ``/api/v1/``."""
    if not has_request_context() or not request.path.startswith(PREFIX):
        return
    body.setdefault("message", body.get("detail"))
    body.setdefault("details", list(body.get("errors") or []))
    code = str(body.get("code") or "")
    mapped = seed_code(code, int(body.get("status") or 500))
    if mapped != code:
        body["reason"] = code
        body["code"] = mapped
