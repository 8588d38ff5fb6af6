"""Schema migrations: one Alembic environment, the core's branch and one branch per plugin.

The core's revisions live in ``migrations/versions``; each plugin contributes the folder its
``junction_migrations`` hook returns. Every command works on all heads, so installing a plugin
and running ``junction db upgrade`` is all an operator does.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import Migrate
from flask_migrate import upgrade as _upgrade

from app.db import db
from app.state import junction_state

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
CORE_BASE_REVISION = "core_0001"

migrate = Migrate()


def init_migrate(app: Flask, plugin_locations: list[str]) -> None:
    """Attach Flask-Migrate to ``app`` with the core and plugin version folders."""
    locations = [str(MIGRATIONS_DIR / "versions"), *plugin_locations]
    junction_state(app).migration_locations = locations
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), compare_type=True)


@migrate.configure
def _version_locations(config: Config) -> Config:
    # Registered once on the shared Migrate object (not per app, where the callbacks would pile
    # up with every create_app); it reads the locations of whichever app is current.
    current = junction_state().migration_locations
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(current))
    return config


def alembic_config() -> Config:
    """An Alembic ``Config`` for the current app (for tools and checks)."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations",
        os.pathsep.join(junction_state().migration_locations),
    )
    return config


def expected_heads() -> set[str]:
    """Every head revision of every branch (core and enabled plugins)."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_heads() -> set[str]:
    """The revisions the database is at."""
    with db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade_all() -> None:
    """Upgrade the database to every head."""
    _upgrade(directory=str(MIGRATIONS_DIR), revision="heads")


def database_problem(exc: BaseException) -> tuple[str, str]:
    """``(code, detail)`` for an error reaching the database: what is wrong, and the fix.

    The URL is shown without its password; the driver's message is reduced to its first line.
    """
    import sqlalchemy as sa

    try:
        url = db.engine.url
    except Exception:  # no app context: describe the error alone
        url = None
    shown = url.render_as_string(hide_password=True) if url is not None else "the database"
    original = str(getattr(exc, "orig", exc)).strip()
    message = next(
        (line.strip() for line in reversed(original.splitlines()) if line.strip()), original
    )
    lowered = original.lower()
    if isinstance(url, sa.URL) and url.get_backend_name() == "postgresql":
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        if "does not exist" in lowered and "database" in lowered:
            return (
                "DATABASE_MISSING",
                f"The PostgreSQL database {url.database!r} does not exist on {where}. Create "
                f"it (createdb -h {url.host or 'localhost'} -p {url.port or 5432} -U "
                f"{url.username or 'postgres'} {url.database}, or CREATE DATABASE "
                f"\"{url.database}\";) and run 'junction db upgrade' again; or point "
                "JUNCTION_DATABASE_URL at an existing database.",
            )
        if "password authentication failed" in lowered or "role" in lowered:
            return (
                "DATABASE_AUTH_FAILED",
                f"PostgreSQL on {where} refused the credentials of {shown} ({message}). Fix "
                "the user and password in JUNCTION_DATABASE_URL.",
            )
        if (
            "connection refused" in lowered
            or "could not connect" in lowered
            or "timeout" in lowered
        ):
            return (
                "DATABASE_UNAVAILABLE",
                f"No PostgreSQL server answers on {where} ({message}). Start it, or fix the "
                "host and port in JUNCTION_DATABASE_URL.",
            )
    return (
        "DATABASE_UNAVAILABLE",
        f"Cannot use the database {shown}: {message}. Check JUNCTION_DATABASE_URL and that "
        "the database server is running.",
    )


def check_at_heads() -> str:
    """Readiness check: raise unless the database is at every head."""
    missing = expected_heads() - current_heads()
    if missing:
        raise RuntimeError(
            "database schema is behind; run 'junction db upgrade' "
            f"(missing heads: {', '.join(sorted(missing))})"
        )
    return "schema at every head"
