"""The plugin's logic. It never touches ``flask.request``, so routes, the CLI and the job share
it; it raises ``app.errors`` exceptions, which become problem documents over HTTP."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app import events, settings
from app.api import paginate
from app.db import db, rowcount, utcnow
from app.errors import NotFound, ValidationFailed, field_error
from hello_plugin.models import Greeting

# Event channels of a plugin start with its name.
CHANNEL = "hello:greetings"
MESSAGE_MAX = 500  # the column's length


def list_greetings(filters: dict[str, Any]) -> dict[str, Any]:
    """A page of greetings, newest first; ``filters`` holds ``limit``, ``offset``, ``delivered``."""
    query = sa.select(Greeting).order_by(Greeting.id.desc())
    if "delivered" in filters:
        pending = Greeting.delivered_at.is_(None)
        query = query.where(sa.not_(pending) if filters["delivered"] else pending)
    return paginate(query, filters["limit"], filters["offset"])


def get_greeting(greeting_id: int) -> Greeting:
    """Greeting ``greeting_id``, or :class:`NotFound` (a 404 problem)."""
    greeting = db.session.get(Greeting, greeting_id)
    if greeting is None:
        raise NotFound(f"No greeting {greeting_id}.")
    return greeting


def create_greeting(name: str, message: str | None = None) -> Greeting:
    """Store a greeting for ``name``; the ``deliver`` job delivers it later."""
    name = name.strip()
    if not name:
        # The schema checked the length; only the service knows blank names are meaningless.
        raise ValidationFailed(
            "name must not be blank.", errors=[field_error("name", "Must not be blank.", "blank")]
        )
    if message is None:
        message = settings.get("hello", "greeting").replace("{name}", name)
    if not 1 <= len(message) <= MESSAGE_MAX:
        # Checked here too: the CLI and the greeting setting bypass the request schema.
        raise ValidationFailed(
            f"message must be 1 to {MESSAGE_MAX} characters.",
            errors=[field_error("message", f"Length must be 1 to {MESSAGE_MAX}.", "length")],
        )
    greeting = Greeting(name=name, message=message)
    db.session.add(greeting)
    db.session.commit()
    events.publish(CHANNEL, "greeting.created", {"id": greeting.id, "name": greeting.name})
    return greeting


def deliver_pending(limit: int | None = None) -> int:
    """Mark up to ``limit`` (setting ``batch_size``) undelivered greetings delivered; return
    how many this call did.

    One conditional UPDATE: a second runner (``junction jobs run`` beside the leader)
    cannot deliver the same greeting twice, and the count is exact.
    """
    limit = limit or settings.get("hello", "batch_size")
    ids = db.session.scalars(
        sa.select(Greeting.id)
        .where(Greeting.delivered_at.is_(None))
        .order_by(Greeting.id)
        .limit(limit)
    ).all()
    if not ids:
        return 0
    result = db.session.execute(
        sa.update(Greeting)
        .where(Greeting.id.in_(ids), Greeting.delivered_at.is_(None))
        .values(delivered_at=utcnow())
    )
    db.session.commit()
    delivered = rowcount(result) or 0
    if delivered:
        events.publish(CHANNEL, "greeting.delivered", {"count": delivered})
    return delivered


def counts() -> dict[str, int]:
    """``{"total": ..., "pending": ...}`` over every greeting."""
    total, pending = db.session.execute(
        sa.select(
            sa.func.count(Greeting.id),
            sa.func.count(Greeting.id).filter(Greeting.delivered_at.is_(None)),
        )
    ).one()
    return {"total": total, "pending": pending}


def health_check() -> str:
    """Readiness check: the plugin's table answers (raises when it is missing)."""
    numbers = counts()
    return f"{numbers['total']} greeting(s), {numbers['pending']} pending"
