"""Claiming and running operations: leases, heartbeats, retries, resumption.

A runner claims one due operation with a single conditional ``UPDATE`` (``FOR UPDATE SKIP
LOCKED`` in its subquery on PostgreSQL; on SQLite the statement runs under the database's
single write lock and re-checks the due condition), so two runners never claim the same row.
The claim stores a per-claim lease token; every later write of the runner is fenced on that
token, and a heartbeat thread renews the lease every third of its length. When the token no
longer matches (the lease expired and someone else claimed the row), the context raises
:class:`LeaseLost` on the handler's next call and nothing the old runner does is written.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask, current_app

from app.db import db
from app.errors import JunctionError
from app.http.errors import HttpError
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
    new_lease_token,
    runtime,
)
from app.operations.service import handlers, publish

log = logging.getLogger(__name__)

TABLE = Operation.__table__
RETRYABLE_HTTP_CATEGORIES = frozenset({"temporary", "rate_limited"})
MAX_ERROR_MESSAGE = 2000


class OperationContext:
    """What a handler gets: the operation's inputs, its checkpoint, and ways to report back.

    ``progress`` and ``save_checkpoint`` persist immediately (they commit ``db.session``, so
    the handler's own pending database changes are committed atomically with them) and raise
    :class:`LeaseLost` when this runner no longer owns the operation.
    """

    def __init__(self, app: Flask, rt: Runtime, row: dict[str, Any], lease_token: str) -> None:
        self.app = app
        self.runtime = rt
        self.id: str = row["id"]
        self.kind: str = row["kind"]
        self.project: str | None = row["project"]
        self.params: dict[str, Any] = copy.deepcopy(row["params"] or {})
        self.checkpoint: dict[str, Any] = copy.deepcopy(row["checkpoint"] or {})
        self.attempt: int = row["attempts"]
        self.max_attempts: int = row["max_attempts"]
        self.lease_token = lease_token
        self._lease_lost = threading.Event()
        self._progress: dict[str, Any] = dict(row["progress"] or {})

    # -- lease -------------------------------------------------------------------------------
    @property
    def lease_lost(self) -> bool:
        """Whether this runner found out it no longer holds the lease."""
        return self._lease_lost.is_set()

    def _check_lease(self) -> None:
        if self._lease_lost.is_set():
            raise LeaseLost(f"operation {self.id}: the lease passed to another runner")

    def _owned(self) -> sa.ColumnElement[bool]:
        return sa.and_(
            TABLE.c.id == self.id,
            TABLE.c.lease_owner == self.lease_token,
            TABLE.c.status == RUNNING,
        )

    def _write(self, **values: Any) -> None:
        """Update our row, fenced on the lease token; commit; extend the lease while at it."""
        self._check_lease()
        values.setdefault("updated_at", self.runtime.now())
        values.setdefault("lease_expires_at", self.runtime.lease_until())
        done = db.session.execute(sa.update(TABLE).where(self._owned()).values(**values)).rowcount
        if done != 1:
            db.session.rollback()
            self._lease_lost.set()
            self._check_lease()
        db.session.commit()

    # -- reporting ---------------------------------------------------------------------------
    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record progress (``done`` of ``total``) and publish ``operation.progress``."""
        percent = round(100.0 * done / total, 1) if total else None
        self._progress = {"done": done, "total": total, "message": message, "percent": percent}
        self._write(progress=self._progress)
        publish(self._event_data(), "operation.progress")

    def save_checkpoint(self, data: dict[str, Any]) -> None:
        """Persist ``data`` as the checkpoint now; a resumed attempt starts from it."""
        json.dumps(data)  # fail here, in the handler, rather than at commit time
        self._write(checkpoint=data)
        self.checkpoint = copy.deepcopy(data)

    @property
    def cancel_requested(self) -> bool:
        """Whether cancellation was requested (read fresh from the database)."""
        # Own connection: the handler's session may hold a snapshot that predates the cancel.
        with db.engine.connect() as connection:
            return bool(
                connection.scalar(sa.select(TABLE.c.cancel_requested).where(TABLE.c.id == self.id))
            )

    def raise_if_cancelled(self) -> None:
        """Raise :class:`OperationCancelled` when cancellation was requested (or the lease lost)."""
        self._check_lease()
        if self.cancel_requested:
            raise OperationCancelled(f"operation {self.id} was cancelled")

    def _event_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "project": self.project,
            "status": RUNNING,
            "attempts": self.attempt,
            "progress": self._progress,
        }


class _Heartbeat(threading.Thread):
    """Renews the lease every ``heartbeat_every`` seconds until stopped or the lease is lost."""

    def __init__(self, app: Flask, ctx: OperationContext) -> None:
        super().__init__(name=f"operation-heartbeat-{ctx.id}", daemon=True)
        self.app = app
        self.ctx = ctx
        self.stopped = threading.Event()

    def run(self) -> None:
        rt = self.ctx.runtime
        while not self.stopped.wait(rt.heartbeat_every):
            try:
                with self.app.app_context(), db.engine.begin() as connection:
                    done = connection.execute(
                        sa.update(TABLE)
                        .where(self.ctx._owned())
                        .values(lease_expires_at=rt.lease_until())
                    ).rowcount
            except Exception:
                # A database hiccup: the lease still has two thirds left; try again next tick.
                log.warning("operation %s: lease renewal failed", self.ctx.id, exc_info=True)
                continue
            if done != 1:
                log.warning("operation %s: lease lost to another runner", self.ctx.id)
                self.ctx._lease_lost.set()
                return

    def stop(self) -> None:
        """Stop renewing and wait for the thread to end."""
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=30)


# -- claiming -----------------------------------------------------------------------------------


def _due(now: dt.datetime, kinds: list[str]) -> sa.ColumnElement[bool]:
    return sa.and_(
        TABLE.c.kind.in_(kinds),
        sa.or_(
            sa.and_(
                TABLE.c.status == PENDING,
                sa.or_(TABLE.c.next_attempt_at.is_(None), TABLE.c.next_attempt_at <= now),
            ),
            # A running row whose lease ran out belongs to a runner that died or hung.
            sa.and_(TABLE.c.status == RUNNING, TABLE.c.lease_expires_at < now),
        ),
    )


def claim_next(kinds: list[str], rt: Runtime | None = None) -> tuple[dict[str, Any], str] | None:
    """Atomically claim the oldest due operation of ``kinds``; ``(row, lease_token)`` or None.

    Claiming increments ``attempts``: a retry and a takeover after an expired lease each count.
    """
    if not kinds:
        return None
    rt = rt or runtime()
    now = rt.now()
    token = new_lease_token()
    due = _due(now, kinds)
    candidate = (
        sa.select(TABLE.c.id)
        .where(due)
        .order_by(TABLE.c.created_at, TABLE.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers instead
        .scalar_subquery()
    )
    stmt = (
        sa.update(TABLE)
        # The due condition again: on SQLite the subquery ran without a row lock.
        .where(TABLE.c.id == candidate, due)
        .values(
            status=RUNNING,
            lease_owner=token,
            lease_expires_at=now + dt.timedelta(seconds=rt.lease_seconds),
            attempts=TABLE.c.attempts + 1,
            started_at=sa.func.coalesce(TABLE.c.started_at, now),
            next_attempt_at=None,
            updated_at=now,
        )
        .returning(*TABLE.c)
    )
    try:
        row = db.session.execute(stmt).mappings().first()
        row = dict(row) if row is not None else None
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return (row, token) if row is not None else None


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
        done = db.session.execute(sa.update(TABLE).where(ctx._owned()).values(**values)).rowcount
        if done != 1:
            db.session.rollback()
            log.warning("operation %s: lease lost before recording %s", ctx.id, status)
            return False
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
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
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rt = rt or runtime(app)
    ctx = OperationContext(app, rt, row, lease_token)

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
        db.session.rollback()
        heartbeat.stop()
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


def has_due(kinds: list[str], rt: Runtime | None = None) -> bool:
    """Whether an operation of ``kinds`` is due now (a cheap read, no claim)."""
    if not kinds:
        return False
    rt = rt or runtime()
    with db.engine.connect() as connection:
        found = connection.scalar(sa.select(TABLE.c.id).where(_due(rt.now(), kinds)).limit(1))
    return found is not None


def runner_job() -> int:
    """The scheduler's ``operations.runner`` job: hand due work to background runner threads.

    Returns at once (so a long operation never makes the scheduler skip ticks or hold one of
    its threads); starts a thread running :func:`run_pending` when something is due and fewer
    than ``runtime.runner_threads`` are busy. Returns how many threads it started.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rt = runtime(app)
    kinds = list(handlers(app))
    with rt.lock:
        rt.threads[:] = [thread for thread in rt.threads if thread.is_alive()]
        if len(rt.threads) >= rt.runner_threads or not has_due(kinds, rt):
            return 0
        thread = threading.Thread(target=_drain, args=(app,), name="operations-runner", daemon=True)
        rt.threads.append(thread)
        thread.start()
    return 1


def _drain(app: Flask) -> None:
    with app.app_context():
        try:
            run_pending()
        except Exception:
            log.exception("operations runner thread failed")
