"""``Idempotency-Key`` support for POST/PATCH endpoints (draft-ietf-httpapi-idempotency-key).

Put :func:`idempotent` directly under the route decorator::

    @blp.post("")
    @idempotent
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, ProjectSchema)
    def create_project(data): ...

A request carrying ``Idempotency-Key`` (or ``X-Idempotency-Key``) claims the key with an
``INSERT`` that hits a unique constraint, so exactly one request per key executes, across
threads, gunicorn workers and hosts. Later requests with the same key get the stored response
again (``Idempotent-Replayed: true``), 409 while the first is still running, or 422 when their
request differs. Keys are scoped to the calling token and the endpoint and kept
``JUNCTION_IDEMPOTENCY_TTL`` seconds. The policy is published in ``docs/idempotency.md``.

The package, by concern: :mod:`~app.idempotency.keys` (the header and request fingerprints),
:mod:`~app.idempotency.model` (the table and the policy), :mod:`~app.idempotency.claims`
(claim, replay, complete, release) and :mod:`~app.idempotency.decorator`; retention and
start-up are here. Every public name is re-exported: ``from app.idempotency import idempotent``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Flask

from app import scheduler
from app.db import db
from app.idempotency.claims import OUTCOMES, RELEASED_STATUSES, REPLAYABLE_HEADERS
from app.idempotency.decorator import idempotent
from app.idempotency.keys import (
    HEADER,
    LEGACY_HEADER,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    InvalidKey,
    parse_key,
    request_fingerprint,
)
from app.idempotency.model import (
    DEFAULT_LOCK_SECONDS,
    TABLE,
    IdempotencyKey,
    IdempotencyPolicy,
    policy,
)
from app.state import junction_state

__all__ = [
    "CLEANUP_INTERVAL_SECONDS",
    "DEFAULT_LOCK_SECONDS",
    "HEADER",
    "LEGACY_HEADER",
    "MAX_KEY_LENGTH",
    "OUTCOMES",
    "RELEASED_STATUSES",
    "REPLAYABLE_HEADERS",
    "REPLAYED_HEADER",
    "TABLE",
    "IdempotencyKey",
    "IdempotencyPolicy",
    "InvalidKey",
    "cleanup_expired",
    "idempotent",
    "init_app",
    "parse_key",
    "policy",
    "request_fingerprint",
]

CLEANUP_INTERVAL_SECONDS = 900


def cleanup_expired(now: dt.datetime | None = None) -> int:
    """Delete keys past their retention; returns how many. Run by the scheduler's leader."""
    moment = now or policy().clock()
    with db.engine.begin() as connection:
        return connection.execute(sa.delete(TABLE).where(TABLE.c.expires_at <= moment)).rowcount


def init_app(app: Flask) -> None:
    """Set the policy from the configuration and register the cleanup job with the scheduler."""
    junction_state(app).set_service(
        IdempotencyPolicy,
        IdempotencyPolicy(ttl=dt.timedelta(seconds=app.config["JUNCTION_IDEMPOTENCY_TTL"])),
    )
    scheduler.register_core_job(
        cleanup_expired, seconds=CLEANUP_INTERVAL_SECONDS, id="idempotency.cleanup"
    )
