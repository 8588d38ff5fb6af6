"""Making the PostgreSQL backend from the app's database URL, and its readiness check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from plugins.builds.queue_base import QueueOptions
from plugins.queue_postgres.backend import PostgresQueue

UNAVAILABLE = (
    "The postgres build-queue backend needs Junction's database on PostgreSQL "
    "(JUNCTION_DATABASE_URL=postgresql://...); this one is {dialect}. Use the file or redis "
    "backend here, or move the database to PostgreSQL."
)


def libpq_url(url: str) -> tuple[str | None, str]:
    """``(dialect, libpq URL)`` of a SQLAlchemy database URL (the driver suffix removed)."""
    parsed = sa.make_url(url)
    dialect = parsed.get_backend_name()
    if dialect != "postgresql":
        return dialect, ""
    return dialect, parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_backend(options: QueueOptions) -> PostgresQueue:
    """The ``postgres`` backend's factory: the table ``queue_postgres_items`` in Junction's
    own (PostgreSQL) database; unavailable, with the reason, on any other database."""
    dialect, conninfo = libpq_url(str(options.config.get("JUNCTION_DATABASE_URL") or "sqlite://"))
    if not conninfo:
        from plugins.builds.queue import BackendUnavailable

        raise BackendUnavailable(UNAVAILABLE.format(dialect=dialect))
    return PostgresQueue(conninfo, clock=options.clock)


def readiness_check() -> str:
    """``queue_postgres.table``: when the build queue is on PostgreSQL, the table answers."""
    from plugins.builds.queue import backend_name, get_backend

    if backend_name() != "postgres":
        return "not selected (builds.queue_backend is not postgres)"
    backend = get_backend(current_app)
    assert isinstance(backend, PostgresQueue)
    backend.ping()
    stats = backend.stats()
    return f"{stats.length} queued, {stats.in_flight} in flight, {stats.redeliveries} redelivered"
