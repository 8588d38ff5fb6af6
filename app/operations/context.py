"""What a running handler holds: :class:`OperationContext` (inputs, checkpoint, progress,
cancellation, all fenced on the lease token) and the heartbeat thread that renews the lease."""

from __future__ import annotations

import copy
import json
import logging
import threading
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.db import db, rowcount
from app.operations.models import RUNNING, Operation
from app.operations.runtime import LeaseLost, OperationCancelled, Runtime
from app.operations.service import publish

log = logging.getLogger("app.operations.runner")  # the runner's logger, as before the split

TABLE = Operation.__table__


class OperationContext:
    """What a handler gets: the operation's inputs, its checkpoint, and ways to report back.

    ``progress`` and ``save_checkpoint`` persist immediately (they commit ``db.session``, so
    the handler's own pending database changes are committed atomically with them) and raise
    :class:`LeaseLost` when this runner no longer owns the operation.
    """

    def __init__(
        self,
        app: Flask,
        rt: Runtime,
        row: dict[str, Any],
        lease_token: str,
        claimed_at: float | None = None,
    ) -> None:
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
        # ``claimed_at``: the monotonic time the claim was sent (now, when unknown: later than
        # the truth, which only matters for a claim whose answer took most of the lease).
        self.deadline = rt.local_deadline(rt.monotonic() if claimed_at is None else claimed_at)

    # -- lease -------------------------------------------------------------------------------
    @property
    def lease_lost(self) -> bool:
        """Whether this runner no longer holds the lease (found out, or past its deadline)."""
        return self._lease_lost.is_set() or self.runtime.monotonic() > self.deadline

    def check_lease(self) -> None:
        """Raise :class:`LeaseLost` unless this runner still holds the lease: call it before
        every external call. Purely local (no database round trip): it fails once another
        runner was seen owning the row, or once the lease's local deadline has passed."""
        if not self._lease_lost.is_set() and self.runtime.monotonic() > self.deadline:
            self._lease_lost.set()
            log.warning(
                "operation %s: lease not renewed in time (database unreachable?); stopping",
                self.id,
            )
        if self._lease_lost.is_set():
            raise LeaseLost(f"operation {self.id}: this runner no longer holds the lease")

    _check_lease = check_lease

    def _renewed(self, sent_at: float) -> None:
        """A renewal sent at ``sent_at`` succeeded: move the local deadline."""
        self.deadline = max(self.deadline, self.runtime.local_deadline(sent_at))

    def _owned(self) -> sa.ColumnElement[bool]:
        return sa.and_(
            TABLE.c.id == self.id,
            TABLE.c.lease_owner == self.lease_token,
            TABLE.c.status == RUNNING,
        )

    def _write(self, **values: Any) -> None:
        """Update our row, fenced on the lease token; commit; extend the lease while at it."""
        self._check_lease()
        sent = self.runtime.monotonic()
        values.setdefault("updated_at", self.runtime.now())
        values.setdefault("lease_expires_at", self.runtime.lease_until())
        done = rowcount(db.session.execute(sa.update(TABLE).where(self._owned()).values(**values)))
        if done != 1:
            db.session.rollback()
            self._lease_lost.set()
            self._check_lease()
        db.session.commit()
        if "lease_expires_at" in values:
            self._renewed(sent)

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
        failing = False
        while not self.stopped.wait(rt.heartbeat_every):
            if self.ctx.lease_lost:
                return  # past the local deadline: the handler stops at its next check
            sent = rt.monotonic()
            try:
                with self.app.app_context(), db.engine.begin() as connection:
                    done = connection.execute(
                        sa.update(TABLE)
                        .where(self.ctx._owned())
                        .values(lease_expires_at=rt.lease_until())
                    ).rowcount
            except Exception as exc:
                # A database hiccup: retry next tick; the local deadline bounds how long the
                # handler may go on without a renewal. Logged once per run of failures.
                if not failing:
                    log.warning(
                        "operation %s: lease renewal failed (%s); the handler stops in %.1fs "
                        "unless a renewal succeeds",
                        self.ctx.id,
                        type(exc).__name__,
                        max(0.0, self.ctx.deadline - rt.monotonic()),
                    )
                failing = True
                continue
            if done != 1:
                log.warning("operation %s: lease lost to another runner", self.ctx.id)
                self.ctx._lease_lost.set()
                return
            if failing:
                log.warning("operation %s: lease renewed again", self.ctx.id)
                failing = False
            self.ctx._renewed(sent)

    def stop(self) -> None:
        """Stop renewing and wait for the thread to end."""
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=30)
