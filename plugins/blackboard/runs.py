"""``POST /agents/{name}/run``: run one agent on given artifacts, through the same cascade."""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa

from app import events
from app.db import db
from app.errors import Forbidden
from app.operations import runtime
from app.operations.models import UNFINISHED, Operation
from plugins.blackboard import agents as agent_registry
from plugins.blackboard import artifacts as board
from plugins.blackboard import matching
from plugins.blackboard.models import OPEN_STATES, Artifact, Consumption


def _open(ids: list[str]) -> bool:
    c, o = Consumption.__table__, Operation.__table__
    query = (
        sa.select(c.c.id)
        .join(o, o.c.id == c.c.operation_id)
        .where(c.c.id.in_(ids), c.c.status.in_(OPEN_STATES), o.c.status.in_(UNFINISHED))
        .limit(1)
    )
    with db.engine.connect() as connection:
        return connection.scalar(query) is not None


def run_agent(
    name: str, artifact_ids: list[str], inputs: list[dict[str, Any]], timeout: float
) -> dict[str, Any]:
    """Consume the artifacts (and the inputs, published privately to the agent) and wait."""
    started = time.monotonic()
    agent = agent_registry.get(name)
    existing = [board.get_artifact(artifact_id) for artifact_id in dict.fromkeys(artifact_ids)]
    for artifact in existing:
        if not matching.may_see(artifact.visibility, agent.name, agent.labels, agent.tenant_id):
            raise Forbidden(f"Agent {name!r} may not see artifact {artifact.id} (visibility).")
    drafts = [
        board.Draft(
            {**item, "visibility": {"kind": "private", "agents": [name]}},
            "external",
            field_prefix=f"inputs.{index}.",
        )
        for index, item in enumerate(inputs)
    ]
    now = runtime().now()
    new_correlation = str(uuid.uuid4())
    channels = {board.correlation_channel(a.correlation_id) for a in existing}
    channels.add(board.correlation_channel(new_correlation))
    with events.subscribe(sorted(channels)) as subscription:
        consumption_ids: list[str] = []
        created: list[Artifact] = []
        if drafts:
            board.ensure_correlation(new_correlation, now)
        for draft in drafts:
            artifact, consumptions = board.stage(
                draft, new_correlation, now=now, force_agents=[name]
            )
            created.append(artifact)
            consumption_ids += [c.id for c in consumptions if c.agent == name]
        for artifact in existing:
            found = db.session.scalar(
                sa.select(Consumption).where(
                    Consumption.artifact_id == artifact.id, Consumption.agent == name
                )
            )
            if found is None:
                found = board.enqueue(artifact, name, now)
            consumption_ids.append(found.id)
        db.session.commit()
        board.announce(created)
        if not created:
            board.announce([])
        deadline = started + timeout
        completed = True
        while _open(consumption_ids):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                completed = False
                break
            subscription.get(timeout=remaining)
    rows = db.session.scalars(
        sa.select(Consumption)
        .where(Consumption.id.in_(consumption_ids))
        .execution_options(populate_existing=True)
    ).all()
    by_id = {row.id: row for row in rows}
    outputs = [out for cid in consumption_ids for out in (by_id[cid].outputs or [])]
    produced = db.session.scalars(sa.select(Artifact).where(Artifact.id.in_(outputs))).all()
    order = {artifact_id: index for index, artifact_id in enumerate(outputs)}
    return {
        "agent": name,
        "runs": [
            {
                "artifact_id": by_id[cid].artifact_id,
                "status": by_id[cid].status,
                "error": by_id[cid].error,
                "outputs": list(by_id[cid].outputs or []),
            }
            for cid in consumption_ids
        ],
        "artifacts": [board.public(a) for a in sorted(produced, key=lambda a: order[a.id])],
        "completed": completed,
    }
