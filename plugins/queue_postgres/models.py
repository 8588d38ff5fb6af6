"""The table of the PostgreSQL build queue (prefix ``queue_postgres_``).

One row per pending item (queued or leased); ack deletes it. ``available_at`` is when the row
may next be handed out: its enqueue time, the deadline of its current lease, or the end of a
nack's delay. So one index, ``(available_at, seq)``, finds the next item whether it is new, its
lease expired or its delay passed, in O(log n), with no reaper; see ``docs/builds.md``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class QueueRow(Model):
    """An item on the PostgreSQL build queue."""

    __tablename__ = "queue_postgres_items"
    __table_args__ = (
        sa.Index("ix_queue_postgres_items_available", "available_at", "seq"),
        sa.Index("ix_queue_postgres_items_leased_until", "leased_until"),
    )

    seq: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    dedup_key: Mapped[str] = mapped_column(sa.Text(), unique=True)
    item: Mapped[str] = mapped_column(sa.Text())  # JSON of the fields that never change
    enqueued_at: Mapped[float] = mapped_column(sa.Double())
    available_at: Mapped[float] = mapped_column(sa.Double())
    leased_until: Mapped[float | None] = mapped_column(sa.Double())
    lease_token: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(sa.Integer(), default=0)
    worker: Mapped[str | None] = mapped_column(sa.String(100))


class QueueCounter(Model):
    """Counters of the queue that outlive its items (``redeliveries``)."""

    __tablename__ = "queue_postgres_counters"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
