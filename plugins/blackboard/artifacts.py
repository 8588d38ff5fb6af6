"""Publishing artifacts: validate, store with their consumptions and operations, announce.

Everything a publish writes — the artifact, its correlation, one consumption per matched
agent and the durable operation that will run it — is written in one transaction, so a crash
leaves either all of it or none of it, and the runners find every piece of pending work.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app import events
from app.db import db
from app.errors import NotFound, ValidationFailed, field_error
from app.operations import runner_job, runtime
from app.operations.models import Operation, new_operation_id
from plugins.blackboard import agents as agent_registry
from plugins.blackboard import artifact_types
from plugins.blackboard.models import PENDING, Artifact, Consumption, Correlation

log = logging.getLogger(__name__)

KIND = "blackboard.consume"
CHANNEL = "blackboard"
# Namespaced idempotency: artifact ids made from an idempotency key are uuid5 in this space.
_KEY_SPACE = uuid.UUID("6f1c2a52-9f0e-4d51-a1b8-3c0d2e7f9b10")


def correlation_channel(correlation_id: str) -> str:
    """The event channel of one correlation (the plugin's name first: namespacing)."""
    return f"blackboard:correlation:{correlation_id}"


def derived_id(dedupe: str, what: str) -> str:
    """A stable id for ``what`` of the request identified by ``dedupe`` (caller, endpoint, key)."""
    return str(uuid.uuid5(_KEY_SPACE, f"{what}\n{dedupe}"))


def public(artifact: Artifact) -> dict[str, Any]:
    """The API and event view of an artifact (Flock's fields)."""
    return {
        "id": artifact.id,
        "type": artifact.type,
        "type_version": artifact.type_version,
        "payload": artifact.payload,
        "produced_by": artifact.produced_by,
        "correlation_id": artifact.correlation_id,
        "partition_key": artifact.partition_key,
        "tags": artifact.tags,
        "visibility": artifact.visibility,
        "visibility_kind": artifact.visibility_kind,
        "created_at": artifact.created_at,
        "version": artifact.version,
        "depth": artifact.depth,
    }


def visibility_of(data: dict[str, Any] | None) -> dict[str, Any]:
    """The stored visibility for the request's ``visibility`` (default public)."""
    data = dict(data or {"kind": "public"})
    kind = data.get("kind", "public")
    out: dict[str, Any] = {"kind": kind}
    needs = {"private": "agents", "labelled": "labels", "tenant": "tenant_id"}.get(kind)
    if needs is not None:
        value = data.get(needs)
        if not value:
            raise ValidationFailed(
                f"visibility {kind!r} needs {needs}.",
                errors=[
                    field_error(f"visibility.{needs}", f"Required for kind {kind!r}.", "required")
                ],
            )
        out[needs] = value
    return out


class Draft:
    """An artifact validated and ready to be staged."""

    def __init__(self, data: dict[str, Any], produced_by: str, *, field_prefix: str = "") -> None:
        info = artifact_types.resolve(
            data["type"], data.get("type_version"), field=f"{field_prefix}type"
        )
        try:
            self.payload = artifact_types.validate_payload(info, data.get("payload"))
        except ValidationFailed as exc:
            if field_prefix and exc.errors:
                for error in exc.errors:
                    error["field"] = field_prefix + error["field"]
            raise
        self.type = info.name
        self.type_version = info.version
        self.produced_by = produced_by
        self.partition_key = data.get("partition_key")
        self.tags = [str(tag) for tag in dict.fromkeys(data.get("tags") or [])]
        self.visibility = visibility_of(data.get("visibility"))


def ensure_correlation(correlation_id: str, now: dt.datetime) -> None:
    """Create the correlation row if absent (concurrent creators: one wins, none fails)."""
    table = Correlation.__table__
    dialect = db.engine.dialect.name
    values = {"id": correlation_id, "state": "active", "started_at": now, "last_activity_at": now}
    if dialect in {"postgresql", "sqlite"}:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
        db.session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["id"]))
    elif db.session.get(Correlation, correlation_id) is None:
        db.session.execute(sa.insert(table).values(**values))
    db.session.execute(
        sa.update(table).where(table.c.id == correlation_id).values(last_activity_at=now)
    )


def stage(
    draft: Draft,
    correlation_id: str,
    *,
    depth: int = 0,
    artifact_id: str | None = None,
    now: dt.datetime | None = None,
    force_agents: list[str] | None = None,
) -> tuple[Artifact, list[Consumption]]:
    """Add the artifact, its consumptions and their operations to the session (no commit)."""
    moment = now or runtime().now()
    artifact = Artifact(
        id=artifact_id or str(uuid.uuid4()),
        type=draft.type,
        type_version=draft.type_version,
        payload=draft.payload,
        produced_by=draft.produced_by,
        correlation_id=correlation_id,
        partition_key=draft.partition_key,
        tags_text="," + ",".join(draft.tags) + "," if draft.tags else "",
        visibility_kind=draft.visibility["kind"],
        visibility=draft.visibility,
        depth=depth,
        version=1,
        created_at=moment,
    )
    db.session.add(artifact)
    view = public(artifact)
    consumers = [agent for agent in agent_registry.all_agents() if agent.wants(view)]
    names = [agent.name for agent in consumers]
    for name in force_agents or []:
        if name not in names:
            names.append(name)
    consumptions = [enqueue(artifact, name, moment) for name in names]
    return artifact, consumptions


def enqueue(artifact: Artifact, agent: str, now: dt.datetime) -> Consumption:
    """Add one consumption and the operation that runs it to the session (no commit)."""
    consumption_id = str(uuid.uuid4())
    operation_id = new_operation_id()
    db.session.add(
        Operation(
            id=operation_id,
            kind=KIND,
            status="pending",
            progress={},
            params={"consumption_id": consumption_id},
            checkpoint={},
            attempts=0,
            # Agent calls are retried inside one attempt; attempts here are runners that died
            # (or lost their lease) mid-consumption, each resuming it.
            max_attempts=3,
            dedupe_key=f"blackboard:{consumption_id}",
            cancel_requested=False,
            created_at=now,
            updated_at=now,
        )
    )
    consumption = Consumption(
        id=consumption_id,
        artifact_id=artifact.id,
        agent=agent,
        correlation_id=artifact.correlation_id,
        operation_id=operation_id,
        status=PENDING,
        attempts=0,
        outputs=[],
        created_at=now,
    )
    db.session.add(consumption)
    return consumption


def announce(artifacts: list[Artifact], event_type: str = "artifact.created") -> None:
    """Publish each artifact on ``blackboard`` and its correlation's channel; start runners."""
    for artifact in artifacts:
        data = public(artifact)
        for channel in (CHANNEL, correlation_channel(artifact.correlation_id)):
            try:
                events.publish(channel, event_type, data)
            except Exception:  # the rows are the truth; a lost event only delays a watcher
                log.warning(
                    "blackboard: could not publish %s on %s", event_type, channel, exc_info=True
                )
    try:
        runner_job()  # start on this process now rather than at the scheduler's next tick
    except Exception:
        log.warning("blackboard: could not start a runner thread", exc_info=True)


def publish(
    data: dict[str, Any],
    *,
    correlation_id: str | None = None,
    dedupe: str | None = None,
) -> tuple[Artifact, bool]:
    """Validate and publish one artifact from a client; ``(artifact, created)``.

    With ``dedupe`` (caller, endpoint and idempotency key) the artifact id is derived from it,
    so a second execution of the same request finds the first artifact instead of starting a
    second cascade, even after the idempotency lock expired.
    """
    draft = Draft(data, data.get("produced_by") or "external")
    cid = correlation_id or data.get("correlation_id") or str(uuid.uuid4())
    artifact_id = derived_id(dedupe, "artifact") if dedupe else None
    if artifact_id is not None:
        existing = db.session.get(Artifact, artifact_id)
        if existing is not None:
            return existing, False
    now = runtime().now()
    ensure_correlation(cid, now)
    artifact, _ = stage(draft, cid, artifact_id=artifact_id, now=now)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        if artifact_id is None:
            raise
        existing = db.session.get(Artifact, artifact_id)
        if existing is None:
            raise
        return existing, False
    announce([artifact])
    return artifact, True


def get_artifact(artifact_id: str) -> Artifact:
    """The artifact or a 404."""
    found = db.session.get(Artifact, artifact_id)
    if found is None:
        raise NotFound(f"artifact not found: no artifact with id {artifact_id!r}.")
    return found
