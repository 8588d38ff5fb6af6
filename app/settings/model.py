"""The ``settings`` table: one stored value per namespace, key and scope."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, UTCDateTime, utcnow


class Setting(Model):
    """One stored value: global when ``project_id`` is NULL, else for that project.

    ``project_id`` references ``projects.id`` with ``ON DELETE CASCADE``: a project's values go
    with the project (even when it is deleted by plain SQL), and an id survives a rename.
    ``value`` holds JSON text, or for an encrypted secret the Fernet token of that JSON text.
    """

    __tablename__ = "settings"
    __table_args__ = (
        sa.UniqueConstraint(
            "namespace", "key", "project_id", name="uq_settings_namespace_key_project"
        ),
        # NULLs are distinct in a unique constraint (SQLite, PostgreSQL < 15), so global values
        # need their own partial unique index to stay one per (namespace, key).
        sa.Index(
            "uq_settings_namespace_key_global",
            "namespace",
            "key",
            unique=True,
            sqlite_where=sa.text("project_id IS NULL"),
            postgresql_where=sa.text("project_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    project_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    value: Mapped[str] = mapped_column(sa.Text, nullable=False)
    is_secret: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    encrypted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )
