"""Stored keys (the ``idempotency_keys`` table) and the per-app policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, UTCDateTime, utcnow
from app.idempotency.keys import MAX_KEY_LENGTH
from app.state import junction_state

DEFAULT_LOCK_SECONDS = 60


class IdempotencyKey(Model):
    """One claimed key: in flight (with a lock expiry) or completed (with the stored response)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint(
            "scope", "endpoint", "key", name="uq_idempotency_keys_scope_endpoint_key"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who sent it: "token:<hash>" from app.auth, "loopback" or "anonymous".
    scope: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    endpoint: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY_LENGTH), nullable=False)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # in_flight | completed
    lock_token: Mapped[str | None] = mapped_column(sa.String(32))
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    response_status: Mapped[int | None] = mapped_column(sa.Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(sa.JSON)
    response_body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


TABLE: sa.Table = IdempotencyKey.__table__


@dataclass
class IdempotencyPolicy:
    """Per-app settings of the idempotency layer; tests replace ``clock``."""

    ttl: dt.timedelta = dt.timedelta(seconds=86400)
    lock: dt.timedelta = dt.timedelta(seconds=DEFAULT_LOCK_SECONDS)
    clock: Callable[[], dt.datetime] = field(default=utcnow)


def policy() -> IdempotencyPolicy:
    """The current app's policy (set by :func:`init_app` from ``JUNCTION_IDEMPOTENCY_TTL``)."""
    found = junction_state().service(IdempotencyPolicy)
    assert found is not None, "create_app() sets the idempotency policy"
    return found
