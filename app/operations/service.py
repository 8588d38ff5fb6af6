"""Submitting, reading, cancelling and retrying operations (no Flask request handling here).

Every function needs an app context. Writes commit ``db.session`` once, then publish an event
on ``operation:<id>`` and ``operations``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.api import paginate
from app.db import db, rowcount
from app.errors import Conflict, NotFound, ValidationFailed, field_error
from app.operations.models import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    UNFINISHED,
    Operation,
    new_operation_id,
)
from app.operations.runtime import runtime

log = logging.getLogger(__name__)

ALL_CHANNEL = "operations"
_UNFINISHED_WHERE = sa.text("status IN ('pending', 'running')")


def channel_of(operation_id: str) -> str:
    """The event channel of one operation."""
    return f"operation:{operation_id}"


# -- handlers -----------------------------------------------------------------------------------


def handlers(app: Flask | None = None) -> dict[str, Callable[..., Any]]:
    """``{kind: handler}`` known to ``app`` (plugins' ``junction_operations`` and registered)."""
    target = app or current_app
    return cast(dict[str, Callable[..., Any]], target.extensions["junction"].operation_handlers)


def register_handler(kind: str, handler: Callable[..., Any], app: Flask | None = None) -> None:
    """Register ``handler(ctx)`` for operations of ``kind`` on ``app`` (default: current app)."""
    if not kind or not callable(handler):
        raise ValueError("register_handler needs a kind and a callable handler")
    handlers(app)[kind] = handler


# -- events -------------------------------------------------------------------------------------


def publish(operation: Operation | dict[str, Any], type_: str) -> None:
    """Publish ``type_`` with the operation's public view on its channel and ``operations``.

    Best effort: the row is the source of truth, so a failing event log must not fail the
    operation (clients re-read the row on reconnect).
    """
    from app import events

    data = operation.public() if isinstance(operation, Operation) else operation
    for channel in (channel_of(data["id"]), ALL_CHANNEL):
        try:
            events.publish(channel, type_, data, project=data.get("project"))
        except Exception:
            log.warning("could not publish %s on %s", type_, channel, exc_info=True)


# -- reading ------------------------------------------------------------------------------------


def get_operation(operation_id: str) -> Operation:
    """The operation ``operation_id`` as stored now, or :class:`NotFound`."""
    operation = db.session.get(Operation, str(operation_id), populate_existing=True)
    if operation is None:
        raise NotFound(f"No operation with id {operation_id!r}.")
    return operation


def list_operations(filters: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    """A page of operations, newest first, filtered by ``kind``, ``status`` and ``project``."""
    query = sa.select(Operation)
    for name in ("kind", "status", "project"):
        if filters.get(name) is not None:
            query = query.where(getattr(Operation, name) == filters[name])
    query = query.order_by(Operation.created_at.desc(), Operation.id.desc())
    return paginate(query.execution_options(populate_existing=True), limit, offset)


def wait_for(operation_id: str, timeout: float) -> Operation:
    """Wait until the operation is finished or ``timeout`` seconds passed; return its state.

    A runner of this process wakes the wait the moment it records an outcome; one in another
    process is seen at the next poll (``poll_interval``). The caller checks ``status``: after
    a timeout the operation may still be unfinished.
    """
    deadline = time.monotonic() + timeout
    table = Operation.__table__
    rt = runtime()
    seen = rt.settled_count
    while True:
        # A separate connection so an open transaction of the caller cannot hide new states.
        with db.engine.connect() as connection:
            status = connection.scalar(
                sa.select(table.c.status).where(table.c.id == str(operation_id))
            )
        if status is None:
            raise NotFound(f"No operation with id {operation_id!r}.")
        if status in FINISHED or time.monotonic() >= deadline:
            return get_operation(operation_id)
        seen = rt.wait_settled(seen, min(rt.poll_interval, max(0.0, deadline - time.monotonic())))


def unfinished_count(kinds: list[str] | None = None) -> int:
    """How many operations are pending or running (of ``kinds`` when given)."""
    query = (
        sa.select(sa.func.count()).select_from(Operation).where(Operation.status.in_(UNFINISHED))
    )
    if kinds is not None:
        query = query.where(Operation.kind.in_(kinds))
    with db.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


# -- writing ------------------------------------------------------------------------------------


def _check_json(name: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"{name} must be JSON-serialisable: {exc}", errors=[field_error(name, str(exc))]
        ) from exc


def submit(
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    project: str | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> Operation:
    """Create a pending operation of ``kind`` and return it (commits the session).

    With ``dedupe_key``, an unfinished operation with the same key is returned instead of a new
    one (enforced by a unique partial index, so concurrent submits cannot both create).
    """
    known = handlers()
    if kind not in known:
        raise ValidationFailed(
            f"Unknown operation kind {kind!r}.",
            errors=[field_error("kind", f"Known kinds: {', '.join(sorted(known)) or 'none'}.")],
        )
    params = dict(params or {})
    _check_json("params", params)
    rt = runtime()
    if max_attempts is None:
        max_attempts = int(getattr(known[kind], "max_attempts", rt.default_max_attempts))
    if max_attempts < 1:
        raise ValidationFailed("max_attempts must be at least 1.")
    table = Operation.__table__

    for _ in range(5):
        if dedupe_key is not None:
            existing = db.session.scalar(
                sa.select(Operation)
                .where(Operation.dedupe_key == dedupe_key, Operation.status.in_(UNFINISHED))
                .execution_options(populate_existing=True)
            )
            if existing is not None:
                return existing
        now = rt.now()
        values: dict[str, Any] = {
            "id": new_operation_id(),
            "kind": kind,
            "status": PENDING,
            "progress": {},
            "params": params,
            "checkpoint": {},
            "attempts": 0,
            "max_attempts": max_attempts,
            "project": project,
            "dedupe_key": dedupe_key,
            "cancel_requested": False,
            "created_at": now,
            "updated_at": now,
        }
        if dedupe_key is None:
            db.session.execute(sa.insert(table).values(**values))
        else:
            dialect = db.engine.dialect.name
            insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
            stmt = insert.values(**values).on_conflict_do_nothing(
                index_elements=["dedupe_key"], index_where=_UNFINISHED_WHERE
            )
            if rowcount(db.session.execute(stmt)) != 1:
                # Someone else created it between our read and our insert: return theirs.
                db.session.commit()
                continue
        db.session.commit()
        operation = get_operation(values["id"])
        publish(operation, "operation.created")
        return operation
    raise Conflict("Could not submit the operation; the dedupe key keeps changing hands.")


def cancel_operation(operation_id: str, *, reason: str | None = None) -> Operation:
    """Cancel: a pending operation ends ``cancelled`` now; a running one is asked to stop.

    Cancelling a cancelled operation is a no-op; a succeeded or failed one is a 409. ``reason``
    is kept in ``error`` (category ``cancelled``).
    """
    error = {"message": reason or "Cancelled on request.", "category": "cancelled"}
    table = Operation.__table__
    for _ in range(5):
        operation = get_operation(operation_id)
        now = runtime().now()
        if operation.status == CANCELLED:
            return operation
        if operation.status in FINISHED:
            raise Conflict(
                f"Operation {operation_id} already {operation.status}; nothing to cancel.",
                code="OPERATION_FINISHED",
            )
        if operation.status == PENDING:
            values = {
                "status": CANCELLED,
                "cancel_requested": True,
                "finished_at": now,
                "updated_at": now,
                "next_attempt_at": None,
                "error": error,
            }
            event = "operation.cancelled"
        else:
            values = {"cancel_requested": True, "updated_at": now, "error": error}
            event = "operation.cancel_requested"
        done = rowcount(
            db.session.execute(
                sa.update(table)
                .where(table.c.id == operation.id, table.c.status == operation.status)
                .values(**values)
            )
        )
        db.session.commit()
        if done == 1:
            operation = get_operation(operation_id)
            publish(operation, event)
            return operation
        # The status changed under us (claimed, finished): decide again on the new state.
    raise Conflict("The operation is changing state; try again.", retryable=True)


def retry_operation(operation_id: str, *, max_attempts: int | None = None) -> Operation:
    """Put a failed or cancelled operation back to ``pending``; it resumes from its checkpoint.

    Attempts start again from zero (``max_attempts`` replaces the limit when given). 409 when
    it is not failed or cancelled, or when another unfinished operation holds its dedupe key.
    """
    table = Operation.__table__
    operation = get_operation(operation_id)
    if operation.status not in (FAILED, CANCELLED):
        raise Conflict(
            f"Only failed or cancelled operations can be retried; this one is {operation.status}.",
            code="OPERATION_NOT_RETRYABLE",
        )
    now = runtime().now()
    try:
        done = rowcount(
            db.session.execute(
                sa.update(table)
                .where(table.c.id == operation.id, table.c.status.in_((FAILED, CANCELLED)))
                .values(
                    status=PENDING,
                    attempts=0,
                    max_attempts=max_attempts or operation.max_attempts,
                    cancel_requested=False,
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=None,
                    updated_at=now,
                )
            )
        )
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "Another unfinished operation has the same dedupe key.", code="OPERATION_DUPLICATE"
        ) from exc
    if done != 1:
        raise Conflict("The operation changed state; try again.", retryable=True)
    operation = get_operation(operation_id)
    publish(operation, "operation.retried")
    return operation
