"""Metrics of tasks and runs: recording, listing and summaries (min, max, avg, last, count)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.api import paginate
from app.db import db
from app.errors import NotFound
from app.operations import runtime
from plugins.agents.models import AgentMetric


def record(
    task_id: int,
    run_id: int | None,
    name: str,
    value: float,
    unit: str = "",
    labels: dict[str, Any] | None = None,
    *,
    commit: bool = True,
) -> None:
    """Record one value (committed unless ``commit`` is False)."""
    db.session.add(
        AgentMetric(
            task_id=task_id,
            run_id=run_id,
            name=name[:100],
            value=float(value),
            unit=unit[:32],
            labels={str(k): v for k, v in (labels or {}).items()},
            created_at=runtime().now(),
        )
    )
    if commit:
        db.session.commit()


def get_metric(metric_id: int) -> AgentMetric:
    """The metric ``metric_id`` or 404."""
    metric = db.session.get(AgentMetric, metric_id)
    if metric is None:
        raise NotFound(f"No metric with id {metric_id}.")
    return metric


def list_metrics(filters: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    """A page of metrics, newest first, filtered by ``task_id``, ``run_id`` and ``name``."""
    query = sa.select(AgentMetric)
    for name in ("task_id", "run_id", "name"):
        if filters.get(name) is not None:
            query = query.where(getattr(AgentMetric, name) == filters[name])
    return paginate(query.order_by(AgentMetric.id.desc()), limit, offset)


def summary(column: sa.orm.InstrumentedAttribute[Any], value: int) -> dict[str, dict[str, Any]]:
    """``{name: {min, max, avg, last, count, unit}}`` of the metrics where ``column == value``.

    ``last`` is the value with the highest id of each name (one query for the aggregates, one
    for the last values).
    """
    table = AgentMetric
    rows = db.session.execute(
        sa.select(
            table.name,
            sa.func.min(table.value),
            sa.func.max(table.value),
            sa.func.avg(table.value),
            sa.func.count(),
            sa.func.max(table.id),
        )
        .where(column == value)
        .group_by(table.name)
    ).all()
    last_ids = [row[5] for row in rows]
    last: dict[int, tuple[float, str]] = {}
    if last_ids:
        for metric_id, last_value, unit in db.session.execute(
            sa.select(table.id, table.value, table.unit).where(table.id.in_(last_ids))
        ):
            last[metric_id] = (last_value, unit)
    result: dict[str, dict[str, Any]] = {}
    for name, low, high, avg, count, last_id in rows:
        last_value, unit = last[last_id]
        result[name] = {
            "min": low,
            "max": high,
            "avg": round(float(avg), 6),
            "last": last_value,
            "count": count,
            "unit": unit,
        }
    return result
