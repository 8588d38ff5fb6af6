"""The blackboard panel of the web console (``/console/blackboard/``).

The artifact types with how many artifacts each has, the agents with their health (an HTTP
agent's circuit and consecutive failures, every agent's recent failed consumptions), the
newest correlations, and — picked with ``?correlation=<id>`` — one correlation's cascade as a
tree (artifact → the agents that consumed it → what they produced), which grows live: the page
follows ``blackboard`` (every new artifact) and the correlation's own channel (consumptions
done, failed or skipped). A form publishes an artifact through the same service as
``POST /api/v1/artifacts``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import request

from app.db import db
from app.errors import ValidationFailed, field_error, flatten_messages
from app.jsonparse import parse_json
from app.operations.models import UNFINISHED, Operation
from plugins.blackboard import agents, artifact_types, queries
from plugins.blackboard import artifacts as board
from plugins.blackboard.models import (
    ACTIVE,
    COMPLETED,
    CORRELATION_FAILED,
    FAILED,
    OPEN_STATES,
    Artifact,
    Consumption,
    Correlation,
)
from plugins.blackboard.schemas import PublishSchema

CHANNELS = (board.CHANNEL,)
CORRELATIONS_SHOWN = 15
FAILURES_PER_AGENT = 3
PAYLOAD_PREVIEW = 240
MAX_PAYLOAD_CHARS = 64 * 1024
PRODUCER = "console"
CIRCUIT_CLASS = {"closed": "ok", "half_open": "pending", "open": "failed"}


def _preview(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= PAYLOAD_PREVIEW else text[: PAYLOAD_PREVIEW - 1] + "…"


def _artifact(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "type": artifact.type,
        "type_version": artifact.type_version,
        "produced_by": artifact.produced_by,
        "tags": artifact.tags,
        "visibility": artifact.visibility_kind,
        "depth": artifact.depth,
        "created_at": artifact.created_at,
        "payload": _preview(artifact.payload),
    }


def _types() -> list[dict[str, Any]]:
    counts = queries.summary({})["by_type"]
    return [
        {**info.public(), "count": counts.get(info.name, 0)} for info in artifact_types.list_types()
    ]


def _recent_failures() -> dict[str, list[Consumption]]:
    rows = db.session.scalars(
        sa.select(Consumption)
        .where(Consumption.status == FAILED)
        .order_by(Consumption.finished_at.desc().nulls_last(), Consumption.created_at.desc())
        .limit(100)
    )
    by_agent: dict[str, list[Consumption]] = defaultdict(list)
    for row in rows:
        if len(by_agent[row.agent]) < FAILURES_PER_AGENT:
            by_agent[row.agent].append(row)
    return by_agent


def _agents() -> list[dict[str, Any]]:
    runs: dict[str, dict[str, int]] = defaultdict(dict)
    for agent, status, count in db.session.execute(
        sa.select(Consumption.agent, Consumption.status, sa.func.count()).group_by(
            Consumption.agent, Consumption.status
        )
    ):
        runs[agent][status] = int(count)
    failures = _recent_failures()
    out = []
    for view in agents.all_agents():
        health = agents.health(view.row) if view.row is not None else None
        out.append(
            {
                "name": view.name,
                "kind": view.kind,
                "description": view.description,
                "types": sorted({t for sub in view.subscriptions for t in sub.types}),
                "labels": list(view.labels),
                "health": health,
                "circuit_class": CIRCUIT_CLASS.get(health["circuit"], "pending") if health else "",
                "runs": runs.get(view.name, {}),
                "failures": [
                    {
                        "error": f.error,
                        "at": f.finished_at or f.created_at,
                        "correlation": f.correlation_id,
                    }
                    for f in failures.get(view.name, [])
                ],
            }
        )
    return out


def _pending(ids: list[str]) -> set[str]:
    """Which of the correlations ``ids`` still have work to run (as the status endpoint says)."""
    if not ids:
        return set()
    c, o = Consumption.__table__, Operation.__table__
    return set(
        db.session.scalars(
            sa.select(c.c.correlation_id)
            .join(o, o.c.id == c.c.operation_id)
            .where(
                c.c.correlation_id.in_(ids),
                c.c.status.in_(OPEN_STATES),
                o.c.status.in_(UNFINISHED),
            )
            .distinct()
        )
    )


def _state(row: Correlation, pending: set[str]) -> str:
    """Flock's state: ``failed`` as recorded, else ``active`` while work is pending."""
    if row.state == CORRELATION_FAILED:
        return CORRELATION_FAILED
    return ACTIVE if row.id in pending else COMPLETED


def _correlations() -> list[dict[str, Any]]:
    rows = list(
        db.session.scalars(
            sa.select(Correlation)
            .order_by(Correlation.last_activity_at.desc(), Correlation.id)
            .limit(CORRELATIONS_SHOWN)
        )
    )
    ids = [row.id for row in rows]
    counts = (
        dict(
            db.session.execute(
                sa.select(Artifact.correlation_id, sa.func.count())
                .where(Artifact.correlation_id.in_(ids))
                .group_by(Artifact.correlation_id)
            ).all()
        )
        if ids
        else {}
    )
    pending = _pending(ids)
    return [
        {
            "id": row.id,
            "state": _state(row, pending),
            "error": row.error,
            "started_at": row.started_at,
            "last_activity_at": row.last_activity_at,
            "artifacts": int(counts.get(row.id, 0)),
        }
        for row in rows
    ]


def cascade(correlation_id: str) -> list[dict[str, Any]]:
    """The correlation as a forest: each artifact with the consumptions of it, each
    consumption with the artifacts it produced (oldest first)."""
    found = queries.correlation_artifacts(correlation_id, None, None)
    by_id = {a.id: a for a in found}
    consumptions: dict[str, list[Consumption]] = defaultdict(list)
    produced: set[str] = set()
    for row in db.session.scalars(
        sa.select(Consumption)
        .where(Consumption.correlation_id == correlation_id)
        .order_by(Consumption.created_at, Consumption.id)
    ):
        consumptions[row.artifact_id].append(row)
        produced.update(i for i in row.outputs or [] if i in by_id)
    seen: set[str] = set()

    def node(artifact: Artifact) -> dict[str, Any]:
        seen.add(artifact.id)
        return {
            "artifact": _artifact(artifact),
            "consumptions": [
                {
                    "agent": c.agent,
                    "status": c.status,
                    "error": c.error,
                    "attempts": c.attempts,
                    "duration_ms": round(c.duration_ms) if c.duration_ms is not None else None,
                    "children": [
                        node(by_id[i]) for i in c.outputs or [] if i in by_id and i not in seen
                    ],
                }
                for c in consumptions.get(artifact.id, [])
            ],
        }

    roots = [node(a) for a in found if a.id not in produced and a.id not in seen]
    # Outputs whose consumption is not recorded (yet) still show, at the top level.
    roots += [node(a) for a in found if a.id not in seen]
    return roots


def _picked(correlation_id: str) -> dict[str, Any]:
    status = queries.correlation_status(correlation_id)
    if status["state"] == "not_found":
        return {"id": correlation_id, "missing": True}
    return {"id": correlation_id, "status": status, "tree": cascade(correlation_id)}


def panel_context() -> dict[str, Any]:
    """Types, agents, the newest correlations, and the picked correlation's cascade."""
    correlations = _correlations()
    picked_id = (request.args.get("correlation") or "").strip()[:100]
    picked = _picked(picked_id) if picked_id else None
    follow = [board.correlation_channel(c["id"]) for c in correlations if c["state"] == ACTIVE]
    if picked and not picked.get("missing"):
        follow.insert(0, board.correlation_channel(picked_id))
    return {
        "types": _types(),
        "agents": _agents(),
        "correlations": correlations,
        "picked": picked,
        "console_channels": follow,
    }


# -- actions ------------------------------------------------------------------------------------


def publish(form: Mapping[str, str]) -> str:
    """Publish an artifact of the chosen type with a JSON payload (optionally into an existing
    correlation, with tags); a bad type, payload or field is a 422 naming it."""
    raw = form.get("payload") or "{}"
    if len(raw) > MAX_PAYLOAD_CHARS:
        raise ValidationFailed(
            f"The payload is longer than {MAX_PAYLOAD_CHARS} characters.",
            errors=[field_error("payload", "Too long.", "too_long")],
        )
    try:
        payload = parse_json(raw)
    except Exception as exc:
        detail = getattr(exc, "detail", str(exc)).replace("The request body", "The payload")
        raise ValidationFailed(detail, errors=[field_error("payload", detail, "invalid")]) from None
    body: dict[str, Any] = {"type": (form.get("type") or "").strip(), "payload": payload}
    body["produced_by"] = PRODUCER
    correlation = (form.get("correlation_id") or "").strip()
    if correlation:
        body["correlation_id"] = correlation
    tags = [t.strip() for t in (form.get("tags") or "").split(",") if t.strip()]
    if tags:
        body["tags"] = tags
    try:
        data = PublishSchema().load(body)
    except ma.ValidationError as exc:
        errors = flatten_messages(exc.messages)
        first = errors[0] if errors else {"field": "", "message": "is invalid"}
        raise ValidationFailed(f"{first['field']}: {first['message']}", errors=errors) from None
    artifact, _ = board.publish(data)
    return f"Published {artifact.type} {artifact.id[:8]} in correlation {artifact.correlation_id}."
