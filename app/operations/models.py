"""The ``operations`` table: one durable row per long-running piece of work."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, UTCDateTime, utcnow

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
UNFINISHED = (PENDING, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

# The partial index makes a dedupe key unique among unfinished operations only, so the same
# key can be submitted again once the previous operation has finished.
_UNFINISHED_SQL = sa.text("status IN ('pending', 'running')")


def new_operation_id() -> str:
    """A random, unguessable operation id (a UUID in its canonical text form)."""
    return str(uuid.uuid4())


class Operation(Model):
    """A durable long-running operation: what to do, how far it got, and who is doing it."""

    __tablename__ = "operations"
    __table_args__ = (
        sa.Index("ix_operations_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_operations_kind_created_at", "kind", "created_at"),
        sa.Index("ix_operations_project_created_at", "project", "created_at"),
        sa.Index(
            "uq_operations_dedupe_key_unfinished",
            "dedupe_key",
            unique=True,
            sqlite_where=_UNFINISHED_SQL,
            postgresql_where=_UNFINISHED_SQL,
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_operation_id)
    kind: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=PENDING)
    progress: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    result: Mapped[Any | None] = mapped_column(sa.JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=5)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(200))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    project: Mapped[str | None] = mapped_column(sa.String(64))
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255))
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @property
    def finished(self) -> bool:
        """Whether the operation reached a terminal status."""
        return self.status in FINISHED

    def public(self) -> dict[str, Any]:
        """The JSON-ready view used by events and the CLI (the API uses its schema)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "project": self.project,
            "progress": self.progress or {},
            "result": self.result,
            "error": self.error,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "cancel_requested": self.cancel_requested,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
