"""Tables of the planning plugin (prefix ``planning_``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, TimestampMixin, UTCDateTime


class SyncState(TimestampMixin, Model):
    """Sync bookkeeping of one project: last poll, errors, webhooks, backoff."""

    __tablename__ = "planning_sync_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    items_synced: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    backoff_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_webhook_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    webhook_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # The cycle imported last, so the status can name the active cycle without calling Plane.
    cycle_id: Mapped[str | None] = mapped_column(sa.String(64))
    cycle_name: Mapped[str | None] = mapped_column(sa.String(255))


class WebhookSeen(Model):
    """When an event key was last processed, for the 5-second deduplication across workers.

    ``key`` is the SHA-256 (hex) of the full ``entity:action:id`` key: a fixed length whatever
    the id's, so two ids never share a row and a long id is never cut.
    """

    __tablename__ = "planning_webhook_seen"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class WebhookDelivery(Model):
    """A delivery already received, by Plane's ``X-Plane-Delivery`` id, kept for 24 hours.

    A replayed delivery (same id) is answered ``deduped`` instead of being processed again;
    ``delivery_hash`` is the SHA-256 (hex) of the id, so any length of header fits.
    """

    __tablename__ = "planning_webhook_deliveries"

    delivery_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class SprintCompletion(TimestampMixin, Model):
    """A completed sprint: what was written where, so a second call repeats nothing."""

    __tablename__ = "planning_sprint_completions"
    __table_args__ = (sa.UniqueConstraint("project_id", "cycle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    cycle_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    cycle_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    git_tag: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    release_notes_path: Mapped[str] = mapped_column(sa.String(1024), nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
