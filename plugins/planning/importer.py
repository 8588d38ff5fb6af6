"""Import a Plane cycle's work items as features — the seed's ``import_cycle``.

One call per page of the cycle (states and labels come expanded; the state list is fetched —
once, cached — only when a server does not expand them), never one call per work item. The
whole import is one transaction: a failure leaves the features as they were.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import events
from app.db import db, utcnow
from app.domain.models import Feature, Project
from plugins.planning import mapping
from plugins.planning.client import PlaneClient

log = logging.getLogger(__name__)
CHANNEL = "planning"


def _parent_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order items so a parent inside the cycle comes before its children."""
    by_id = {str(item["id"]): item for item in items}
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(item: dict[str, Any], depth: int = 0) -> None:
        item_id = str(item["id"])
        if item_id in seen:
            return
        seen.add(item_id)
        parent = _parent_id(item)
        if parent in by_id and depth < 100:
            visit(by_id[parent], depth + 1)
        ordered.append(item)

    for item in items:
        visit(item)
    return ordered


def import_cycle(
    project: Project,
    cycle_id: str,
    client: PlaneClient,
    bucket: str = "import",
    on_page: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Create or update the project's features from the cycle; the seed's response body."""
    items = client.cycle_work_items(cycle_id, bucket=bucket, on_page=on_page)
    # A server that ignores ?expand= answers ids; only then are the (cached) lists fetched.
    needs_states = any(isinstance(item.get("state"), str) for item in items)
    states = client.states(bucket=bucket) if needs_states else {}
    needs_labels = any(isinstance(lb, str) for item in items for lb in item.get("labels") or [])
    labels = client.labels(bucket=bucket) if needs_labels else {}
    for attempt in range(2):
        try:
            return _apply(project, items, states, labels)
        except IntegrityError:
            # Another worker imported the same work item at the same moment; the second pass
            # sees its row and updates instead of inserting.
            db.session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _apply(
    project: Project,
    items: list[dict[str, Any]],
    states: Mapping[str, Mapping[str, Any]],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    ids = [str(item["id"]) for item in items]
    # Parents outside the cycle may have been imported before: their features count as
    # dependencies too.
    parents = {p for p in (_parent_id(item) for item in items) if p}
    lookup = list(set(ids) | parents)
    known = (
        {
            feature.planning_work_item_id: feature
            for feature in db.session.scalars(
                sa.select(Feature).where(Feature.planning_work_item_id.in_(lookup))
            )
            if feature.planning_work_item_id is not None  # always, given the IN
        }
        if lookup
        else {}
    )
    existing = {wid: f for wid, f in known.items() if wid in set(ids)}
    feature_ids = {wid: f.id for wid, f in known.items() if f.project_id == project.id}
    now = utcnow()
    details: list[dict[str, Any]] = []
    created: list[Feature] = []
    updated: list[Feature] = []
    for item in _parent_first(items):
        work_item_id = str(item["id"])
        name = str(item.get("name", ""))
        if mapping.state_group(item, states) == "cancelled":
            details.append(_detail(work_item_id, name, "skipped", reason="cancelled"))
            continue
        feature = existing.get(work_item_id)
        if feature is not None and feature.project_id != project.id:
            details.append(_detail(work_item_id, name, "skipped", reason="linked_to_other_project"))
            continue
        fields = mapping.feature_fields(item, states, labels, feature_ids)
        if feature is None:
            feature = Feature(project=project, planning_synced_at=now, **fields)
            db.session.add(feature)
            db.session.flush()
            feature_ids[work_item_id] = feature.id
            created.append(feature)
            details.append(_detail(work_item_id, name, "created", feature_id=feature.id))
        elif _newer(fields["planning_updated_at"], feature.planning_updated_at):
            for key, value in fields.items():
                setattr(feature, key, value)
            feature.planning_synced_at = now
            updated.append(feature)
            details.append(_detail(work_item_id, name, "updated", feature_id=feature.id))
        else:
            feature.planning_synced_at = now
            details.append(
                _detail(
                    work_item_id, name, "skipped", reason="already_imported", feature_id=feature.id
                )
            )
    db.session.commit()
    for feature, kind in [(f, "feature.created") for f in created] + [
        (f, "feature.updated") for f in updated
    ]:
        events.publish(
            "projects",
            kind,
            {
                "project": project.name,
                "id": feature.id,
                "name": feature.name,
                "planning_work_item_id": feature.planning_work_item_id,
            },
            project=project.name,
        )
    result = {
        "imported": len(created),
        "skipped": sum(1 for d in details if d["action"] == "skipped"),
        "updated": len(updated),
        "details": details,
    }
    log.info(
        "imported cycle for %s: %d created, %d updated, %d skipped",
        project.name,
        result["imported"],
        result["updated"],
        result["skipped"],
    )
    return result


def _parent_id(item: Mapping[str, Any]) -> str | None:
    parent = item.get("parent")
    parent = parent.get("id") if isinstance(parent, Mapping) else parent
    return str(parent) if parent else None


def _newer(remote: dt.datetime | None, local: dt.datetime | None) -> bool:
    if remote is None:
        return False
    return local is None or remote > local


def _detail(
    planning_id: str,
    name: str,
    action: str,
    *,
    reason: str | None = None,
    feature_id: int | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {"planning_id": planning_id, "name": name, "action": action}
    if reason is not None:
        detail["reason"] = reason
    if feature_id is not None:
        detail["feature_id"] = feature_id
    return detail
