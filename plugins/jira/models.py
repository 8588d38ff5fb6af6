"""Tables of the jira plugin (prefix ``jira_``): export sessions and their tickets.

The columns follow the seed's *Database Schema Support*: ``jira_export_status`` per ticket,
``export_task_id``/``export_started_at``/``export_failed_at``/``failed_at_ticket_order``/
``export_retry_count`` per session, and the Jira key/URL written as soon as Jira answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Model, TimestampMixin, UTCDateTime

SESSION_STATUSES = ("draft", "exporting", "completed", "export_failed")
TICKET_STATUSES = ("pending", "exported", "failed", "skipped")


def new_uuid() -> str:
    """A new UUID as text (the API's ids)."""
    return str(uuid.uuid4())


class ExportSession(TimestampMixin, Model):
    """A set of tickets exported to one Jira project together."""

    __tablename__ = "jira_sessions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    project_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="SET NULL"), index=True
    )
    jira_project_key: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="draft")
    current_stage: Mapped[str] = mapped_column(sa.String(32), nullable=False, default="review")
    export_task_id: Mapped[str | None] = mapped_column(sa.String(36))
    last_task_id: Mapped[str | None] = mapped_column(sa.String(36))
    export_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    export_failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    first_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_at_ticket_order: Mapped[int | None] = mapped_column(sa.Integer)
    export_retry_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    error_category: Mapped[str | None] = mapped_column(sa.String(32))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    recovery_actions: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    dependencies_created: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    manual_fixes: Mapped[list[dict[str, Any]]] = mapped_column(
        sa.JSON, nullable=False, default=list
    )
    orphans: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, nullable=False, default=list)
    processing_seconds: Mapped[float] = mapped_column(sa.Float, nullable=False, default=0.0)
    current_ticket_title: Mapped[str | None] = mapped_column(sa.String(255))

    tickets: Mapped[list[Ticket]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Ticket.order",
    )


class Ticket(TimestampMixin, Model):
    """One ticket to become one Jira issue."""

    __tablename__ = "jira_tickets"
    __table_args__ = (sa.Index("ix_jira_tickets_session_order", "session_id", "order"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    session_id: Mapped[str] = mapped_column(
        sa.ForeignKey("jira_sessions.id", ondelete="CASCADE"), nullable=False
    )
    order: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description_html: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    issue_type: Mapped[str] = mapped_column(sa.String(64), nullable=False, default="Task")
    assignee: Mapped[str | None] = mapped_column(sa.String(255))
    sprint: Mapped[str | None] = mapped_column(sa.String(255))
    priority: Mapped[str | None] = mapped_column(sa.String(64))
    labels: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    dependencies: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    feature_id: Mapped[int | None] = mapped_column(sa.Integer)
    attachment_path: Mapped[str | None] = mapped_column(sa.String(1024))
    attachment_filename: Mapped[str | None] = mapped_column(sa.String(255))
    attachment_size: Mapped[int | None] = mapped_column(sa.Integer)
    attachment_content_type: Mapped[str | None] = mapped_column(sa.String(128))
    attachment_uploaded: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    jira_export_status: Mapped[str] = mapped_column(
        sa.String(20), nullable=False, default="pending"
    )
    # Set (and committed) just before the create is sent: a resumed export then looks the
    # issue up in Jira before creating it again.
    create_attempted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    jira_issue_id: Mapped[str | None] = mapped_column(sa.String(32))
    jira_ticket_key: Mapped[str | None] = mapped_column(sa.String(64))
    jira_ticket_url: Mapped[str | None] = mapped_column(sa.String(1024))
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    session: Mapped[ExportSession] = relationship(back_populates="tickets")
