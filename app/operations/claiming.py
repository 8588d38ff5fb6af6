"""Claiming due operations: one conditional ``UPDATE`` per claim (``FOR UPDATE SKIP LOCKED``
on PostgreSQL), and a cheap check whether anything is due."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.operations.context import TABLE
from app.operations.models import PENDING, RUNNING
from app.operations.runtime import Runtime, new_lease_token, runtime

# Lease token -> monotonic time its claim was sent, until run_claimed starts its context (whose
# local deadline counts from the claim).
_CLAIM_SENT: dict[str, float] = {}
_CLAIM_SENT_LOCK = threading.Lock()


def claim_sent_at(lease_token: str) -> float | None:
    """The monotonic time the claim holding ``lease_token`` was sent (once; ``None`` after)."""
    with _CLAIM_SENT_LOCK:
        return _CLAIM_SENT.pop(lease_token, None)


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
    sent = rt.monotonic()
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
        found = db.session.execute(stmt).mappings().first()
        row = dict(found) if found is not None else None
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if row is None:
        return None
    with _CLAIM_SENT_LOCK:
        _CLAIM_SENT[token] = sent
        while len(_CLAIM_SENT) > 256:  # claims never run (tests, a crash in between)
            _CLAIM_SENT.pop(next(iter(_CLAIM_SENT)))
    return row, token


def has_due(kinds: list[str], rt: Runtime | None = None) -> bool:
    """Whether an operation of ``kinds`` is due now (a cheap read, no claim)."""
    if not kinds:
        return False
    rt = rt or runtime()
    with db.engine.connect() as connection:
        found = connection.scalar(sa.select(TABLE.c.id).where(_due(rt.now(), kinds)).limit(1))
    return found is not None
