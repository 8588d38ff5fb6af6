"""Tables of the blackboard plugin (prefix ``blackboard_``).

The consumption table is the heart of the cascade: one row per matched (artifact, agent) pair,
unique on that pair, so a pair is consumed at most once however many runners race for it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, UTCDateTime, utcnow

# Consumption states: pending/running are "pending work" of their correlation.
PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"
OPEN_STATES = (PENDING, RUNNING)

# Correlation states (Flock's names).
ACTIVE, COMPLETED, CORRELATION_FAILED = "active", "completed", "failed"


class ArtifactType(Model):
    """A type registered at run time: a name, a version and a JSON Schema for the payload."""

    __tablename__ = "blackboard_artifact_types"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    schema: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Correlation(Model):
    """One cascade: its state, the reason it failed, and when it was last active."""

    __tablename__ = "blackboard_correlations"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=ACTIVE)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_activity_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow
    )


class Artifact(Model):
    """A typed, immutable artifact on the board."""

    __tablename__ = "blackboard_artifacts"
    __table_args__ = (
        sa.Index("ix_blackboard_artifacts_correlation_created", "correlation_id", "created_at"),
        sa.Index("ix_blackboard_artifacts_type_created", "type", "created_at"),
        sa.Index("ix_blackboard_artifacts_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    type_version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    produced_by: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    correlation_id: Mapped[str] = mapped_column(sa.String(36), nullable=False)
    partition_key: Mapped[str | None] = mapped_column(sa.String(200))
    # ",a,b," so a tag filter is one indexed-free LIKE that works on SQLite and PostgreSQL.
    tags_text: Mapped[str] = mapped_column(sa.String(2000), nullable=False, default="")
    visibility_kind: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="public")
    visibility: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    depth: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    @property
    def tags(self) -> list[str]:
        """The artifact's tags, in the order given."""
        return [tag for tag in self.tags_text.split(",") if tag]


class Agent(Model):
    """An HTTP agent registered at run time (Python agents come from a hook, not this table)."""

    __tablename__ = "blackboard_agents"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2000), nullable=False)
    # The shared secret as a Fernet token of the core's settings crypto (clear text only when
    # JUNCTION_SECRET_KEY is unset, as for secret settings); never returned.
    secret: Mapped[str] = mapped_column(sa.Text, nullable=False)
    secret_encrypted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    labels: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    tenant_id: Mapped[str | None] = mapped_column(sa.String(100))
    subscriptions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, nullable=False)
    timeout_seconds: Mapped[float] = mapped_column(sa.Float, nullable=False, default=10.0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=3)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    circuit_open_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Consumption(Model):
    """One matched (artifact, agent) pair and what became of it."""

    __tablename__ = "blackboard_consumptions"
    __table_args__ = (
        sa.UniqueConstraint("artifact_id", "agent"),
        sa.Index("ix_blackboard_consumptions_correlation_status", "correlation_id", "status"),
        sa.Index("ix_blackboard_consumptions_agent", "agent", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    artifact_id: Mapped[str] = mapped_column(sa.String(36), nullable=False)
    agent: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    correlation_id: Mapped[str] = mapped_column(sa.String(36), nullable=False)
    operation_id: Mapped[str | None] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    outputs: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
