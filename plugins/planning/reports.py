"""Test reports over the shared domain: per-feature aggregates and the run history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.domain.models import Feature, Project, TestRun


def _features_query(project: Project, all_features: bool) -> sa.Select[int, str]:
    query = sa.select(Feature.id, Feature.name).where(Feature.project_id == project.id)
    if not all_features:
        query = query.where(Feature.planning_work_item_id.is_not(None))
    return query.order_by(Feature.priority, Feature.id)


def sprint_stats(project: Project, all_features: bool = False) -> dict[str, Any]:
    """Counts of features and runs: the seed's ``total, passing, failed, total_test_runs,
    overall_pass_rate`` plus ``untested``.

    ``passing``: the feature passes. ``failed``: it does not pass and has been tested.
    ``untested``: it does not pass and has no test run at all — not a failure.
    ``total = passing + failed + untested``.
    """
    report = test_report(project, all_features)
    tested = {s["feature_id"] for s in report["feature_summaries"] if s["total_runs"]}
    features = db.session.execute(
        sa.select(Feature.id, Feature.passes).where(
            Feature.project_id == project.id,
            sa.true() if all_features else Feature.planning_work_item_id.is_not(None),
        )
    ).all()
    passing = sum(1 for _, passes in features if passes)
    failed = sum(1 for feature_id, passes in features if not passes and feature_id in tested)
    return {
        "total": len(features),
        "passing": passing,
        "failed": failed,
        "untested": len(features) - passing - failed,
        "total_test_runs": report["total_test_runs"],
        "overall_pass_rate": report["overall_pass_rate"],
    }


def test_report(project: Project, all_features: bool = False) -> dict[str, Any]:
    """Aggregates per feature, in two queries whatever the number of features and runs."""
    features = db.session.execute(_features_query(project, all_features)).all()
    ids = [feature_id for feature_id, _ in features]
    aggregates: dict[int, Any] = {}
    latest: dict[int, bool] = {}
    if ids:
        rows = db.session.execute(
            sa.select(
                TestRun.feature_id,
                sa.func.count(TestRun.id),
                sa.func.sum(sa.case((TestRun.passed, 1), else_=0)),
                sa.func.max(sa.func.coalesce(TestRun.completed_at, TestRun.started_at)),
            )
            .where(TestRun.feature_id.in_(ids))
            .group_by(TestRun.feature_id)
        ).all()
        aggregates = {row[0]: row for row in rows}
        ranked = (
            sa.select(
                TestRun.feature_id,
                TestRun.passed,
                sa.func.row_number()
                .over(
                    partition_by=TestRun.feature_id,
                    order_by=(TestRun.started_at.desc(), TestRun.id.desc()),
                )
                .label("rank"),
            )
            .where(TestRun.feature_id.in_(ids))
            .subquery()
        )
        latest = {
            feature_id: bool(passed)
            for feature_id, passed in db.session.execute(
                sa.select(ranked.c.feature_id, ranked.c.passed).where(ranked.c.rank == 1)
            )
        }

    summaries = []
    total_runs = total_passed = 0
    for feature_id, name in features:
        row = aggregates.get(feature_id)
        runs = int(row[1]) if row else 0
        passed = int(row[2] or 0) if row else 0
        total_runs += runs
        total_passed += passed
        last_at = row[3] if row else None
        if isinstance(last_at, dt.datetime) and last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=dt.UTC)
        if isinstance(last_at, str):  # SQLite returns max() of a datetime as text
            last_at = dt.datetime.fromisoformat(last_at).replace(tzinfo=dt.UTC)
        summaries.append(
            {
                "feature_id": feature_id,
                "feature_name": name,
                "total_runs": runs,
                "pass_count": passed,
                "fail_count": runs - passed,
                "last_tested_at": last_at,
                "last_result": latest.get(feature_id),
            }
        )
    tested = sum(1 for s in summaries if s["total_runs"])
    return {
        "total_features": len(summaries),
        "features_tested": tested,
        "features_never_tested": len(summaries) - tested,
        "total_test_runs": total_runs,
        "overall_pass_rate": round(100.0 * total_passed / total_runs, 1) if total_runs else 0.0,
        "feature_summaries": summaries,
        "generated_at": dt.datetime.now(dt.UTC),
    }


def test_history(
    project: Project, feature_id: int | None, limit: int, offset: int = 0
) -> dict[str, Any]:
    """Individual runs, newest first, for a timeline or heat map."""
    query = (
        sa.select(TestRun, Feature.name)
        .join(Feature, TestRun.feature_id == Feature.id)
        .where(Feature.project_id == project.id)
    )
    if feature_id is not None:
        query = query.where(TestRun.feature_id == feature_id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(
        query.order_by(TestRun.started_at.desc(), TestRun.id.desc()).limit(limit).offset(offset)
    ).all()
    runs = [
        {
            "id": run.id,
            "feature_id": run.feature_id,
            "feature_name": name,
            "passed": run.passed,
            "agent_type": run.agent_type,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "return_code": run.return_code,
        }
        for run, name in rows
    ]
    return {"runs": runs, "total_count": total, "limit": limit, "offset": offset}
