"""Alembic environment shared by the core and every plugin branch."""

from __future__ import annotations

from typing import Any

from alembic import context
from flask import current_app

from app.db import UTCDateTime, db, include_name

config = context.config
target_metadata = db.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render Junction's column types as plain SQLAlchemy types in generated revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    """Emit SQL for the configured URL without connecting."""
    context.configure(
        url=str(db.engine.url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the app's engine; batch mode so ALTERs work on SQLite."""
    options = {
        "render_as_batch": True,
        "render_item": render_item,
        "include_name": include_name,
        **current_app.extensions["migrate"].configure_args,
    }
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
