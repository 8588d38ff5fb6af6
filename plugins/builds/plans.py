"""Plans (the run's build graph), manifests (what a run produced) and artifacts (built wheels)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from app.db import db
from plugins.builds.models import ManifestEntry, Plan
from plugins.builds.names import normalize_name, normalize_version

ARTIFACT_STATUSES = ("built", "reused")


def _node(node: Mapping[str, Any], index: int) -> dict[str, Any]:
    where = f"plan[{index}]."
    return {
        "name": normalize_name(node["name"], where + "name"),
        "version": normalize_version(node["version"], where + "version"),
        "python_tag": node.get("python_tag"),
        "platform_tag": node.get("platform_tag"),
        "action": node["action"],
    }


def save_plan(run_id: str | None, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Store a plan snapshot; it becomes the current plan."""
    plan = Plan(run_id=run_id, plan=[_node(n, i) for i, n in enumerate(nodes)])
    db.session.add(plan)
    db.session.commit()
    return _plan_dict(plan)


def _plan_dict(plan: Plan | None) -> dict[str, Any]:
    if plan is None:
        return {"id": None, "run_id": None, "created_at": None, "plan": []}
    return {"id": plan.id, "run_id": plan.run_id, "created_at": plan.created_at, "plan": plan.plan}


def current_plan() -> dict[str, Any]:
    """The newest plan (an empty one before any was saved)."""
    return _plan_dict(
        db.session.scalar(sa.select(Plan).order_by(Plan.created_at.desc(), Plan.id.desc()).limit(1))
    )


def save_manifest(run_id: str | None, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Store a run's manifest entries."""
    rows = [
        ManifestEntry(
            run_id=run_id,
            name=normalize_name(e["name"], f"entries[{i}].name"),
            version=normalize_version(e["version"], f"entries[{i}].version"),
            wheel=e.get("wheel"),
            python_tag=e.get("python_tag"),
            platform_tag=e.get("platform_tag"),
            status=e["status"],
        )
        for i, e in enumerate(entries)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return {"run_id": run_id, "saved": len(rows)}


def _entry_dict(entry: ManifestEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "run_id": entry.run_id,
        "name": entry.name,
        "version": entry.version,
        "wheel": entry.wheel,
        "python_tag": entry.python_tag,
        "platform_tag": entry.platform_tag,
        "status": entry.status,
        "created_at": entry.created_at,
    }


def _last_run_id() -> str | None:
    return db.session.scalar(
        sa.select(ManifestEntry.run_id).order_by(ManifestEntry.id.desc()).limit(1)
    )


def manifest(limit: int, run_id: str | None = None) -> dict[str, Any]:
    """The manifest of ``run_id`` (default: the last run that wrote one)."""
    run_id = run_id if run_id is not None else _last_run_id()
    entries = db.session.scalars(
        sa.select(ManifestEntry)
        .where(ManifestEntry.run_id.is_not_distinct_from(run_id))
        .order_by(ManifestEntry.id)
        .limit(limit)
    ).all()
    return {"run_id": run_id, "entries": [_entry_dict(e) for e in entries]}


def artifacts(limit: int) -> dict[str, Any]:
    """Built wheels (paths or URLs) from every manifest, newest first."""
    entries = db.session.scalars(
        sa.select(ManifestEntry)
        .where(ManifestEntry.wheel.is_not(None), ManifestEntry.status.in_(ARTIFACT_STATUSES))
        .order_by(ManifestEntry.id.desc())
        .limit(limit)
    ).all()
    return {
        "items": [
            {
                "name": e.name,
                "version": e.version,
                "wheel": e.wheel,
                "filename": (e.wheel or "").rstrip("/").rsplit("/", 1)[-1],
                "python_tag": e.python_tag,
                "platform_tag": e.platform_tag,
                "run_id": e.run_id,
                "created_at": e.created_at,
            }
            for e in entries
        ]
    }
