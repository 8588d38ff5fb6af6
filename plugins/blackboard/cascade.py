"""The cascade: the operation that runs one consumption (one matched artifact, agent pair).

At-least-once delivery to the agent, exactly-once effect on the board: the agent's outputs,
the consumptions they trigger (with their operations) and the consumption's ``done`` are one
transaction that first flips the consumption from open to done. A runner killed after calling
the agent and before that commit leaves the consumption open; the next runner calls the agent
again (HTTP agents see the same ``X-Junction-Delivery`` id) and only one commit can win.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import sqlalchemy as sa

from app import events
from app.db import db, rowcount
from app.errors import ValidationFailed
from app.operations import OperationContext, runtime
from plugins.blackboard import agents as agent_registry
from plugins.blackboard import artifacts as board
from plugins.blackboard import client, config
from plugins.blackboard.models import (
    CORRELATION_FAILED,
    DONE,
    FAILED,
    OPEN_STATES,
    RUNNING,
    SKIPPED,
    Artifact,
    Consumption,
    Correlation,
)

log = logging.getLogger(__name__)

KIND = board.KIND


class LimitReached(Exception):
    """A cascade limit (depth, artifacts per correlation) stops the correlation."""


def consume_operation(ctx: OperationContext) -> dict[str, Any]:
    """Run one consumption: call the agent, publish what it answers, record it once."""
    consumption_id = str(ctx.params["consumption_id"])
    row = db.session.get(Consumption, consumption_id, populate_existing=True)
    if row is None:
        return {"status": "missing"}
    if row.status not in OPEN_STATES:
        return {"status": row.status}  # resumed after the record was written: nothing to redo
    correlation = db.session.get(Correlation, row.correlation_id, populate_existing=True)
    if correlation is not None and correlation.state == CORRELATION_FAILED:
        return _close(row, SKIPPED, f"correlation failed: {correlation.error}")
    agent = agent_registry.find(row.agent)
    if agent is None:
        return _close(row, FAILED, f"agent {row.agent!r} is no longer registered")
    artifact = db.session.get(Artifact, row.artifact_id)
    if artifact is None:
        return _close(row, FAILED, "the artifact is gone")
    started = time.perf_counter()
    max_attempts = agent.row.max_attempts if agent.row is not None else 1
    attempt = 0
    while True:
        attempt += 1
        _mark_running(row)
        try:
            outputs = _call(agent, row, board.public(artifact), ctx)
            break
        except client.AgentCallFailed as exc:
            # Retried here, with backoff, rather than by re-queueing the operation: a retry
            # must not depend on a scheduler tick, and the lease heartbeat covers the wait.
            if not exc.retryable or attempt >= max_attempts:
                return _close(row, FAILED, str(exc))
            time.sleep(ctx.runtime.backoff(attempt, None))
        except Exception as exc:
            log.warning("blackboard: agent %s raised", row.agent, exc_info=True)
            return _close(row, FAILED, f"agent {row.agent!r} raised {type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000.0
    try:
        drafts = [
            board.Draft(out, agent.name, field_prefix=f"artifacts.{i}.")
            for i, out in enumerate(outputs)
        ]
    except (ValidationFailed, KeyError, TypeError) as exc:
        return _close(row, FAILED, f"agent {row.agent!r} published an invalid artifact: {exc}")
    try:
        _check_limits(artifact, len(drafts))
    except LimitReached as exc:
        _fail_correlation(row.correlation_id, str(exc))
        return _close(row, FAILED, str(exc))
    return _record(row, artifact, drafts, elapsed)


def _mark_running(row: Consumption) -> None:
    db.session.execute(
        sa.update(Consumption)
        .where(Consumption.id == row.id, Consumption.status.in_(OPEN_STATES))
        .values(status=RUNNING, attempts=Consumption.attempts + 1)
    )
    db.session.commit()


def _call(
    agent: agent_registry.AgentView, row: Consumption, view: dict[str, Any], ctx: OperationContext
) -> list[dict[str, Any]]:
    if agent.spec is not None:
        return list(agent.spec.consume([view]) or [])
    assert agent.row is not None
    body = {
        "agent": agent.name,
        "delivery_id": row.id,
        "correlation_id": row.correlation_id,
        "artifacts": [view],
    }
    return client.call(agent.row, body, row.id, ctx.attempt)


def _check_limits(parent: Artifact, count: int) -> None:
    if count == 0:
        return
    max_depth = int(config.get("max_depth"))
    if parent.depth + 1 > max_depth:
        raise LimitReached(
            f"cascade depth limit reached: {parent.depth + 1} > max_depth {max_depth}"
        )
    limit = int(config.get("max_artifacts_per_correlation"))
    have = db.session.scalar(
        sa.select(sa.func.count()).where(Artifact.correlation_id == parent.correlation_id)
    )
    if int(have or 0) + count > limit:
        raise LimitReached(
            f"artifact limit reached: {int(have or 0) + count} > "
            f"max_artifacts_per_correlation {limit}"
        )


def _fail_correlation(correlation_id: str, reason: str) -> None:
    table = Correlation.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.id == correlation_id, table.c.state != CORRELATION_FAILED)
        .values(state=CORRELATION_FAILED, error=reason, last_activity_at=runtime().now())
    )
    db.session.commit()
    _event(
        correlation_id, "correlation.failed", {"correlation_id": correlation_id, "error": reason}
    )


def _flip(row: Consumption, status: str, **values: Any) -> bool:
    """Move an open consumption to ``status`` (False: someone else closed it first)."""
    table = Consumption.__table__
    done = rowcount(
        db.session.execute(
            sa.update(table)
            .where(table.c.id == row.id, table.c.status.in_(OPEN_STATES))
            .values(status=status, finished_at=runtime().now(), **values)
        )
    )
    return done == 1


def _close(row: Consumption, status: str, error: str) -> dict[str, Any]:
    if not _flip(row, status, error=error[:2000]):
        db.session.rollback()
        return {"status": "already_recorded"}
    db.session.commit()
    _event(
        row.correlation_id,
        f"consumption.{status}",
        {"consumption_id": row.id, "agent": row.agent, "error": error},
    )
    return {"status": status, "error": error}


def _record(
    row: Consumption, parent: Artifact, drafts: list[board.Draft], elapsed_ms: float
) -> dict[str, Any]:
    now = runtime().now()
    ids = [str(uuid.uuid4()) for _ in drafts]
    # The flip comes first: on PostgreSQL a concurrent twin blocks on the row, then sees it
    # done and writes nothing; on SQLite the write lock serialises them the same way.
    if not _flip(row, DONE, outputs=ids, duration_ms=elapsed_ms):
        db.session.rollback()
        return {"status": "already_recorded"}
    created = []
    for artifact_id, draft in zip(ids, drafts, strict=True):
        artifact, _ = board.stage(
            draft, row.correlation_id, depth=parent.depth + 1, artifact_id=artifact_id, now=now
        )
        created.append(artifact)
    db.session.execute(
        sa.update(Correlation)
        .where(Correlation.id == row.correlation_id)
        .values(last_activity_at=now)
    )
    db.session.commit()
    board.announce(created)
    _event(
        row.correlation_id,
        "consumption.done",
        {"consumption_id": row.id, "agent": row.agent, "outputs": ids},
    )
    return {"status": DONE, "outputs": ids}


def _event(correlation_id: str, type_: str, data: dict[str, Any]) -> None:
    try:
        events.publish(board.correlation_channel(correlation_id), type_, data)
    except Exception:
        log.warning("blackboard: could not publish %s", type_, exc_info=True)
