"""The plugin's tables. Every table name starts with the plugin name (``hello_``)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, TimestampMixin, UTCDateTime


class Greeting(TimestampMixin, Model):
    """A greeting someone asked for; the ``deliver`` job marks it delivered."""

    __tablename__ = "hello_greetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    message: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    # NULL until the job has delivered it; indexed because the job looks for NULLs.
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)

    @property
    def delivered(self) -> bool:
        """Whether the ``deliver`` job has handled this greeting."""
        return self.delivered_at is not None
