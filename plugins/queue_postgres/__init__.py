"""The ``queue_postgres`` plugin: the ``postgres`` build-queue backend of the ``builds`` plugin.

Hook implementations only; the queue is in :mod:`plugins.queue_postgres.backend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def junction_builds_queue_backends() -> Mapping[str, Callable[..., Any]]:
    """The ``postgres`` backend (select it with ``builds.queue_backend = postgres``)."""
    from plugins.queue_postgres.service import postgres_backend

    return {"postgres": postgres_backend}


@hookimpl
def junction_migrations() -> str:
    """The plugin's Alembic branch (``queue_postgres``): the queue table."""
    from plugins.queue_postgres import models  # noqa: F401  (their tables, for autogenerate)

    return str(Path(__file__).parent / "migrations" / "versions")


@hookimpl
def junction_health_checks() -> Mapping[str, Callable[[], Any]]:
    """``queue_postgres.table``: the queue table answers (when selected)."""
    from plugins.queue_postgres.service import readiness_check

    return {"table": readiness_check}
