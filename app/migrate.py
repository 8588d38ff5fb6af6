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


def check_at_heads() -> str:
    """Readiness check: raise unless the database is at every head."""
    missing = expected_heads() - current_heads()
    if missing:
        raise RuntimeError(
            "database schema is behind; run 'junction db upgrade' "
            f"(missing heads: {', '.join(sorted(missing))})"
        )
    return "schema at every head"
