"""Claiming and running operations: leases, heartbeats, retries, resumption.

A runner claims one due operation with a single conditional ``UPDATE`` (``FOR UPDATE SKIP
LOCKED`` in its subquery on PostgreSQL; on SQLite the statement runs under the database's
single write lock and re-checks the due condition), so two runners never claim the same row.
The claim stores a per-claim lease token; every later write of the runner is fenced on that
token, and a heartbeat thread renews the lease every third of its length. When the token no
longer matches (the lease expired and someone else claimed the row), the context raises
:class:`LeaseLost` on the handler's next call and nothing the old runner does is written.

A runner cut off from the database cannot learn that from a write, so the lease also has a
local deadline: the send time of the last successful renewal plus the lease, less a margin
(:meth:`Runtime.local_deadline`). Past it :meth:`OperationContext.check_lease` raises
:class:`LeaseLost` without asking the database, before the handler's next external call.

The handler's context and the heartbeat are in :mod:`app.operations.context`, the claim in
:mod:`app.operations.claiming`; their names are re-exported here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from app.db import db, rowcount
from app.errors import JunctionError
from app.http.errors import HttpError
from app.operations.claiming import claim_next, claim_sent_at, has_due
from app.operations.context import TABLE, OperationContext, _Heartbeat
from app.operations.models import (
    CANCELLED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Operation,
)
from app.operations.runtime import (
    LeaseLost,
    OperationCancelled,
    PermanentFailure,
    Runtime,
    TemporaryFailure,
    failure_of,
    runtime,
)
from app.operations.service import handlers, publish
from app.state import current_app_object

__all__ = [
    "MAX_ERROR_MESSAGE",
    "RETRYABLE_HTTP_CATEGORIES",
    "TABLE",
    "OperationContext",
    "_Heartbeat",
    "claim_next",
    "classify",
    "has_due",
    "run_claimed",
    "run_pending",
    "runner_job",
]

log = logging.getLogger(__name__)

RETRYABLE_HTTP_CATEGORIES = frozenset({"temporary", "rate_limited"})
MAX_ERROR_MESSAGE = 2000


# -- running ------------------------------------------------------------------------------------


def classify(exc: BaseException) -> tuple[bool, str, float | None]:
    """``(retryable, category, retry_after)`` of a handler's exception."""
    if isinstance(exc, TemporaryFailure):
        return True, exc.category, exc.retry_after
    if isinstance(exc, PermanentFailure):
        return False, exc.category, None
    if isinstance(exc, HttpError):
        return exc.category in RETRYABLE_HTTP_CATEGORIES, exc.category, exc.retry_after
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True, "temporary", None
    return False, "internal", None


def _error(exc: BaseException, category: str, attempt: int) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": str(exc)[:MAX_ERROR_MESSAGE] or type(exc).__name__,
        "category": category,
        "type": type(exc).__name__,
        "attempt": attempt,
    }
    problem = getattr(exc, "problem", None)
    if problem:
        error["problem"] = problem
    return error


def _finish(ctx: OperationContext, status: str, **values: Any) -> bool:
    """Write a terminal (or retry) state, fenced on the lease; publish; False if lease lost."""
    now = ctx.runtime.now()
    values = {
        "status": status,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        **values,
    }
    if status != PENDING:
        values.setdefault("finished_at", now)
    try:
        done = rowcount(db.session.execute(sa.update(TABLE).where(ctx._owned()).values(**values)))
        if done != 1:
            db.session.rollback()
            log.warning("operation %s: lease lost before recording %s", ctx.id, status)
            return False
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    ctx.runtime.notify_settled()
    operation = db.session.get(Operation, ctx.id, populate_existing=True)
    if operation is not None:
        publish(operation, "operation.retrying" if status == PENDING else f"operation.{status}")
    return True


def run_claimed(
    row: dict[str, Any],
    lease_token: str,
    handler: Callable[[OperationContext], Any],
    rt: Runtime | None = None,
) -> str | None:
    """Run ``handler`` for a claimed row; return the status recorded (None: lease lost)."""
    app = current_app_object()
    rt = rt or runtime(app)
    claimed_at = claim_sent_at(lease_token)
    ctx = OperationContext(app, rt, row, lease_token, claimed_at)

    if row["attempts"] > row["max_attempts"]:
        # Every attempt so far ended with the runner's lease expiring (crash, kill, hang).
        message = f"gave up after {row['max_attempts']} attempt(s); the last runner stopped"
        _finish(ctx, FAILED, error={"message": message, "category": "abandoned"})
        return FAILED
    if row["cancel_requested"]:
        _finish(ctx, CANCELLED)
        return CANCELLED

    publish({**ctx._event_data(), "status": RUNNING}, "operation.started")
    heartbeat = _Heartbeat(app, ctx)
    heartbeat.start()
    try:
        result = handler(ctx)
    except LeaseLost:
        db.session.rollback()
        log.warning("operation %s: stopped, another runner owns it now", ctx.id)
        return None
    except OperationCancelled:
        db.session.rollback()
        heartbeat.stop()
        return CANCELLED if _finish(ctx, CANCELLED) else None
    except Exception as exc:
        with contextlib.suppress(Exception):  # the failure may be the database's
            db.session.rollback()
        heartbeat.stop()
        if ctx.lease_lost:
            # Past the local deadline (a write blocked on a cut link, typically): the row may
            # be someone else's by now, and recording the failure would only block again.
            log.warning("operation %s: stopped after losing the lease (%s)", ctx.id, exc)
            return None
        return _record_failure(ctx, exc)
    finally:
        # BaseException (SystemExit, KeyboardInterrupt) passes through untouched: the process
        # is going away, and the lease running out hands the operation to another runner.
        heartbeat.stop()

    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return _record_failure(
            ctx, PermanentFailure(f"result is not JSON: {exc}", category="internal")
        )
    return SUCCEEDED if _finish(ctx, SUCCEEDED, result=result, error=None) else None


def _record_failure(ctx: OperationContext, exc: Exception) -> str | None:
    raised = type(exc).__name__
    if isinstance(exc, JunctionError):
        # A problem raised by the handler is kept as is for the request waiting on it.
        exc = failure_of(exc)
    retryable, category, retry_after = classify(exc)
    error = {**_error(exc, category, ctx.attempt), "type": raised}
    if retryable and ctx.attempt < ctx.max_attempts:
        delay = ctx.runtime.backoff(ctx.attempt, retry_after)
        next_at = ctx.runtime.now() + dt.timedelta(seconds=delay)
        error["retry_in"] = round(delay, 3)
        log.info(
            "operation %s: attempt %d failed (%s), retry in %.1fs",
            ctx.id,
            ctx.attempt,
            category,
            delay,
        )
        return PENDING if _finish(ctx, PENDING, error=error, next_attempt_at=next_at) else None
    if category == "internal":
        log.error("operation %s (%s) failed", ctx.id, ctx.kind, exc_info=exc)
    return FAILED if _finish(ctx, FAILED, error=error) else None


def run_pending(limit: int | None = None) -> int:
    """Claim and run due operations one after another in this thread; return how many ran.

    Stops when nothing is due or after ``limit`` operations. Needs an app context; this is the
    scheduler's ``operations.runner`` job and what ``flask junction operations run`` loops on.
    """
    known = handlers()
    count = 0
    while limit is None or count < limit:
        claimed = claim_next(list(known))
        if claimed is None:
            break
        row, token = claimed
        count += 1
        run_claimed(row, token, known[row["kind"]])
    return count


def runner_job() -> int:
    """The scheduler's ``operations.runner`` job: hand due work to background runner threads.

    Returns at once (so a long operation never makes the scheduler skip ticks or hold one of
    its threads); starts a thread running :func:`run_pending` when something is due and fewer
    than ``runtime.runner_threads`` are busy. Returns how many threads it started.
    """
    app = current_app_object()
    if app.config.get("JUNCTION_OPERATION_RUNNERS") == "off":
        return 0  # dedicated runner processes run them
    rt = runtime(app)
    kinds = list(handlers(app))
    with rt.lock:
        rt.threads[:] = [thread for thread in rt.threads if thread.is_alive()]
        if len(rt.threads) >= rt.runner_threads:
            rt.kicked = True  # a busy runner looks again before it exits
            return 0
        if not has_due(kinds, rt):
            return 0
        thread = threading.Thread(
            target=_drain, args=(app, rt), name="operations-runner", daemon=True
        )
        rt.threads.append(thread)
        thread.start()
    return 1


def _drain(app: Flask, rt: Runtime) -> None:
    with app.app_context():
        while True:
            try:
                run_pending()
            except Exception:
                log.exception("operations runner thread failed")
            with rt.lock:
                # Leave only when nobody handed work over since this thread last looked;
                # deciding under the lock runner_job takes means no hand-over falls between.
                if not rt.kicked:
                    if threading.current_thread() in rt.threads:
                        rt.threads.remove(threading.current_thread())
                    return
                rt.kicked = False
