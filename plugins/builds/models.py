"""Tables of the builds plugin (prefix ``builds_``).

Every read endpoint is served by one of the indexes declared here; ``docs/builds.md`` lists
which query uses which, and a PostgreSQL test checks the plans with ``EXPLAIN``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, TimestampMixin, UTCDateTime, declare_unmapped_tables, utcnow

# The full-text index: made by the migration only, since its shape is per database
# (a tsvector table on PostgreSQL, an FTS5 virtual table on SQLite); see plugins.builds.logs.
declare_unmapped_tables("builds_log_search", "builds_log_fts")

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSONB on PostgreSQL (indexable, compact), plain JSON elsewhere.
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class BuildEvent(Model):
    """One build event reported by a worker (the seed's Event shape)."""

    __tablename__ = "builds_events"
    __table_args__ = (
        sa.Index("ix_builds_events_timestamp", "timestamp", "id"),
        sa.Index("ix_builds_events_name_timestamp", "name", "timestamp", "id"),
        sa.Index("ix_builds_events_name_version_timestamp", "name", "version", "timestamp", "id"),
        sa.Index("ix_builds_events_status_timestamp", "status", "timestamp", "id"),
        sa.Index("ix_builds_events_status_name", "status", "name", "timestamp"),
        sa.Index("ix_builds_events_run_id_timestamp", "run_id", "timestamp", "id"),
        sa.Index("ix_builds_events_duration_ms", "duration_ms"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    # The client's own id of the event: a retried POST with the same id stores nothing new.
    event_id: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    run_id: Mapped[str | None] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    version: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    python_tag: Mapped[str | None] = mapped_column(sa.String(64))
    platform_tag: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    detail: Mapped[str | None] = mapped_column(sa.Text)
    # ``metadata`` is reserved by SQLAlchemy's declarative base, hence the attribute name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON_DOC, nullable=False, default=dict)
    duration_ms: Mapped[int | None] = mapped_column(sa.Integer)
    matched_hint_ids: Mapped[list[int]] = mapped_column(sa.JSON, nullable=False, default=list)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Hint(TimestampMixin, Model):
    """A regular expression over build logs and the system packages that usually fix it."""

    __tablename__ = "builds_hints"

    id: Mapped[int] = mapped_column(primary_key=True)
    pattern: Mapped[str] = mapped_column(sa.String(1000), nullable=False)
    recipes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    note: Mapped[str | None] = mapped_column(sa.Text)


class BuildLog(Model):
    """The log of one build (zlib-compressed); searchable through the full-text index."""

    __tablename__ = "builds_logs"
    __table_args__ = (
        sa.Index("ix_builds_logs_name_version_timestamp", "name", "version", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    version: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    run_id: Mapped[str | None] = mapped_column(sa.String(128))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    size_bytes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    truncated: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class LogChunk(Model):
    """Lines appended to a build's live log, numbered from 0 (the tail replays from them)."""

    __tablename__ = "builds_log_chunks"
    __table_args__ = (sa.UniqueConstraint("name", "version", "first_line"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    version: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    first_line: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    lines: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Plan(Model):
    """A saved plan snapshot of one run (the newest is the current plan)."""

    __tablename__ = "builds_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str | None] = mapped_column(sa.String(128))
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON_DOC, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, index=True
    )


class ManifestEntry(Model):
    """One wheel a run produced (or failed to): the manifest, from which artifacts derive."""

    __tablename__ = "builds_manifest_entries"
    __table_args__ = (sa.Index("ix_builds_manifest_entries_run_id_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    version: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    wheel: Mapped[str | None] = mapped_column(sa.String(1024))
    python_tag: Mapped[str | None] = mapped_column(sa.String(64))
    platform_tag: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class FailureCount(Model):
    """Failed builds per package, kept at ingest so ``top-failures`` reads a few rows instead
    of aggregating every failure."""

    __tablename__ = "builds_failure_counts"
    __table_args__ = (sa.Index("ix_builds_failure_counts_failures", "failures", "name"),)

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    last_failure: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
