"""Reading the board: artifact lists and summaries, correlation status, agent history."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.api import paginate
from app.db import db
from app.operations.models import UNFINISHED, Operation
from plugins.blackboard.models import (
    CORRELATION_FAILED,
    FAILED,
    OPEN_STATES,
    Artifact,
    Consumption,
    Correlation,
)

SYNC_LIMIT = 1000


def _like_tag(tag: str) -> sa.ColumnElement[bool]:
    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Artifact.tags_text.like(f"%,{escaped},%", escape="\\")


def filtered(filters: dict[str, Any]) -> sa.Select[Any]:
    """Artifacts matching Flock's filters, oldest first (``created_at``, then ``id``)."""
    query = sa.select(Artifact)
    if filters.get("type"):
        query = query.where(Artifact.type.in_(filters["type"]))
    if filters.get("produced_by"):
        query = query.where(Artifact.produced_by.in_(filters["produced_by"]))
    if filters.get("correlation_id"):
        query = query.where(Artifact.correlation_id == filters["correlation_id"])
    for tag in filters.get("tag") or []:
        query = query.where(_like_tag(tag))
    if filters.get("visibility"):
        query = query.where(Artifact.visibility_kind.in_(filters["visibility"]))
    if filters.get("from") is not None:
        query = query.where(Artifact.created_at >= filters["from"])
    if filters.get("to") is not None:
        query = query.where(Artifact.created_at <= filters["to"])
    return query.order_by(Artifact.created_at, Artifact.id)


def list_artifacts(filters: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    """One page, in the core's envelope plus Flock's ``pagination`` member."""
    page = paginate(filtered(filters), limit, offset)
    page["pagination"] = {"limit": limit, "offset": offset, "total": page["total"]}
    return page


def correlation_artifacts(
    correlation_id: str, type_names: list[str] | None, produced_by: list[str] | None
) -> list[Artifact]:
    """The artifacts of a correlation (at most 1000, as Flock), optionally filtered."""
    query = filtered(
        {"correlation_id": correlation_id, "type": type_names, "produced_by": produced_by}
    )
    return list(db.session.scalars(query.limit(SYNC_LIMIT)))


def summary(filters: dict[str, Any]) -> dict[str, Any]:
    """Counts by type, producer and visibility, and the time span, of the filtered artifacts."""
    base = filtered(filters).order_by(None).subquery()

    def counts(column: str) -> dict[str, int]:
        col = base.c[column]
        rows = db.session.execute(sa.select(col, sa.func.count()).group_by(col).order_by(col))
        return {str(key): int(count) for key, count in rows}

    span = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(base.c.created_at), sa.func.max(base.c.created_at))
    ).one()
    return {
        "total": int(span[0] or 0),
        "by_type": counts("type"),
        "by_producer": counts("produced_by"),
        "by_visibility": counts("visibility_kind"),
        "earliest_created_at": span[1],
        "latest_created_at": span[2],
    }


def _pending_query(correlation_id: str) -> sa.Select[Any]:
    c, o = Consumption.__table__, Operation.__table__
    return (
        sa.select(c.c.id)
        .join(o, o.c.id == c.c.operation_id)
        .where(
            c.c.correlation_id == correlation_id,
            c.c.status.in_(OPEN_STATES),
            o.c.status.in_(UNFINISHED),
        )
        .limit(1)
    )


def has_pending_work(correlation_id: str) -> bool:
    """Whether a consumption of the correlation is still to run (its operation unfinished).

    Reads on its own connection, so a caller's open transaction cannot hide new states.
    """
    with db.engine.connect() as connection:
        return connection.scalar(_pending_query(correlation_id)) is not None


def correlation_status(correlation_id: str) -> dict[str, Any]:
    """Flock's status fields for one correlation (``state: not_found`` when unknown)."""
    row = db.session.get(Correlation, correlation_id, populate_existing=True)
    if row is None:
        return {
            "correlation_id": correlation_id,
            "state": "not_found",
            "has_pending_work": False,
            "artifact_count": 0,
            "error_count": 0,
            "started_at": None,
            "last_activity_at": None,
            "error": None,
        }
    pending = has_pending_work(correlation_id)
    artifacts = db.session.scalar(
        sa.select(sa.func.count()).where(Artifact.correlation_id == correlation_id)
    )
    c, o = Consumption.__table__, Operation.__table__
    # A consumption counts as an error when it failed, or when its operation gave up on it
    # (every runner died) before it could record anything.
    errors = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(c.join(o, o.c.id == c.c.operation_id, isouter=True))
        .where(
            c.c.correlation_id == correlation_id,
            sa.or_(
                c.c.status == FAILED,
                sa.and_(c.c.status.in_(OPEN_STATES), o.c.status.not_in(UNFINISHED)),
            ),
        )
    )
    state = "active" if pending else "completed"
    if row.state == CORRELATION_FAILED:
        state = "failed"
    return {
        "correlation_id": correlation_id,
        "state": state,
        "has_pending_work": pending,
        "artifact_count": int(artifacts or 0),
        "error_count": int(errors or 0),
        "started_at": row.started_at,
        "last_activity_at": row.last_activity_at,
        "error": row.error,
    }


def history_summary(agent: str) -> dict[str, Any]:
    """What ``agent`` produced and consumed, by type, and how its runs ended."""
    produced = db.session.execute(
        sa.select(Artifact.type, sa.func.count())
        .where(Artifact.produced_by == agent)
        .group_by(Artifact.type)
        .order_by(Artifact.type)
    ).all()
    consumed = db.session.execute(
        sa.select(Artifact.type, sa.func.count())
        .join(Consumption, Consumption.artifact_id == Artifact.id)
        .where(Consumption.agent == agent)
        .group_by(Artifact.type)
        .order_by(Artifact.type)
    ).all()
    runs = db.session.execute(
        sa.select(Consumption.status, sa.func.count())
        .where(Consumption.agent == agent)
        .group_by(Consumption.status)
    ).all()
    by_produced = {str(t): int(n) for t, n in produced}
    by_consumed = {str(t): int(n) for t, n in consumed}
    return {
        "agent_id": agent,
        "summary": {
            "produced": {"total": sum(by_produced.values()), "by_type": by_produced},
            "consumed": {"total": sum(by_consumed.values()), "by_type": by_consumed},
            "runs": {str(status): int(n) for status, n in runs},
        },
    }
