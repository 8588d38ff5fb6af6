"""Answering a request with an operation: submit it, wait within the request's budget, respond.

A route that starts long work calls :func:`submit_and_respond` and returns what it gives:
the handler's result (200, serialised by the route's response schema) when the operation
finished within ``wait`` seconds, or a 202 response with ``operation_id``, ``status_url`` and
a ``Location`` header otherwise. A failed or cancelled operation raises
:class:`OperationFailed`, the problem its handler raised (status, code, extra members).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from app.errors import JunctionError
from app.operations.models import CANCELLED, FAILED, SUCCEEDED, Operation
from app.operations.runner import runner_job
from app.operations.service import submit, wait_for

# Status of a failure whose handler raised no problem, by category.
_FALLBACK_STATUS = {
    "auth": 401,
    "permission": 403,
    "not_found": 404,
    "validation": 422,
    "conflict": 409,
    "rate_limited": 429,
    "temporary": 502,
    "abandoned": 502,
    "internal": 500,
}


class OperationFailed(JunctionError):
    """The problem of a failed (or cancelled: 409) operation, answered by the waiting request.

    Carries the handler's problem (status, code, title, ``errors``, extra members) plus
    ``operation_id``, so a client can still read the operation at ``/api/operations/{id}``.
    """

    status, code = 502, "OPERATION_FAILED"


def status_url(operation_id: str) -> str:
    """Where a client reads the operation."""
    return f"/api/operations/{operation_id}"


def submit_and_wait(
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    project: str | None = None,
    dedupe_key: str | None = None,
    wait: float = 0.0,
) -> Operation:
    """Submit (or join the unfinished operation with ``dedupe_key``), start a runner thread in
    this process, and wait up to ``wait`` seconds for it to finish; the operation as it is."""
    operation = submit(kind, params, project=project, dedupe_key=dedupe_key)
    # Start at once instead of at the scheduler's next tick (and without a scheduler at all).
    runner_job()
    if wait > 0:
        operation = wait_for(operation.id, wait)
    return operation


def outcome(operation: Operation) -> dict[str, Any] | None:
    """The result of a succeeded operation; ``None`` while it is unfinished.

    Raises :class:`OperationFailed` for a failed or cancelled one.
    """
    if operation.status == SUCCEEDED:
        result = operation.result
        return dict(result) if isinstance(result, dict) else {"result": result}
    if operation.status == CANCELLED:
        error = operation.error or {}
        raise OperationFailed(
            str(error.get("message") or f"Operation {operation.id} was cancelled."),
            status=409,
            code="OPERATION_CANCELLED",
            operation_id=operation.id,
        )
    if operation.status == FAILED:
        raise failure_problem(operation)
    return None


def failure_problem(operation: Operation) -> OperationFailed:
    """The problem a request answers for the failed ``operation``."""
    error = operation.error or {}
    problem = error.get("problem") or {}
    category = str(error.get("category") or "internal")
    return OperationFailed(
        str(error.get("message") or f"Operation {operation.id} failed."),
        status=int(problem.get("status") or _FALLBACK_STATUS.get(category, 502)),
        code=str(problem.get("code") or "OPERATION_FAILED"),
        title=problem.get("title"),
        errors=problem.get("errors"),
        **{**dict(problem.get("extra") or {}), "operation_id": operation.id},
    )


def accepted(operation: Operation) -> Response:
    """The 202 answer for an unfinished operation, with a ``Location`` header."""
    url = status_url(operation.id)
    response = jsonify(
        {"operation_id": operation.id, "status": operation.status, "status_url": url}
    )
    response.status_code = 202
    response.headers["Location"] = url
    return response


def submit_and_respond(
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    project: str | None = None,
    dedupe_key: str | None = None,
    wait: float,
) -> dict[str, Any] | Response:
    """Run operation ``kind`` for a request within its ``wait`` budget (seconds).

    Returns the handler's result (for the route's 200 schema) when the operation finished in
    time, else a 202 :class:`~flask.Response` (``operation_id``, ``status``, ``status_url``,
    ``Location``); raises :class:`OperationFailed` when it failed or was cancelled.
    ``dedupe_key`` joins an unfinished operation with the same key instead of starting another.
    Declare the 202 on the route with ``@blp.alt_response(202, schema=AcceptedSchema)``.
    """
    operation = submit_and_wait(kind, params, project=project, dedupe_key=dedupe_key, wait=wait)
    result = outcome(operation)
    return accepted(operation) if result is None else result
