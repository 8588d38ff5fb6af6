"""Fixtures: one migrated database per test session, an app on it, and factories for more.

The schema is built by running the migrations (never ``create_all``), on SQLite by default and
on PostgreSQL when ``JUNCTION_TEST_DATABASE_URL`` is set. Rows are deleted after each test so
tests stay independent without paying for a migration each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.db import db
from app.migrate import upgrade_all
from tests.support import fresh_database, pg_server_url, redis_url

BASE_OVERRIDES: dict[str, Any] = {"JUNCTION_SCHEDULER": "off", "JUNCTION_LOG_LEVEL": "warning"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``backend_free`` tests when ``JUNCTION_TEST_SKIP_BACKEND_FREE`` is set.

    CI runs the whole suite twice, on SQLite and on PostgreSQL + Redis. A test that touches
    neither (the Kafka and file queue backends on their own broker or folder, the HTML-to-ADF
    converter) gives the same answer both times, and the Kafka kill test alone takes minutes, so
    the second pass sets this variable. A plain ``make test`` runs everything.
    """
    if not os.environ.get("JUNCTION_TEST_SKIP_BACKEND_FREE"):
        return
    skip = pytest.mark.skip(
        reason="backend_free: it does not use the database or Redis, and ran in this CI run's "
        "SQLite pass (JUNCTION_TEST_SKIP_BACKEND_FREE is set)"
    )
    for item in items:
        if item.get_closest_marker("backend_free") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The instance folder shared by the session's apps."""
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def database_url(instance_dir: Path) -> Iterator[str]:
    """The session's database, migrated to every head."""
    with fresh_database(instance_dir) as url:
        app = create_app(
            {**BASE_OVERRIDES, "JUNCTION_DATABASE_URL": url}, instance_path=instance_dir
        )
        with app.app_context():
            upgrade_all()
            db.engine.dispose()
        yield url


@pytest.fixture(scope="session")
def on_postgres() -> bool:
    """Whether this run uses PostgreSQL."""
    return pg_server_url() is not None


@pytest.fixture
def make_app(database_url: str, instance_dir: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app on the session database with extra configuration or plugins."""
    apps: list[Flask] = []

    def factory(overrides: dict[str, Any] | None = None, **kwargs: Any) -> Flask:
        merged = {**BASE_OVERRIDES, "JUNCTION_DATABASE_URL": database_url, **(overrides or {})}
        app = create_app(merged, instance_path=kwargs.pop("instance_path", instance_dir), **kwargs)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            _clear_tables()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The default app: no tokens, loopback guard, scheduler off."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    """A test client of the default app."""
    return app.test_client()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """An existing directory to register as a project path."""
    path = tmp_path / "checkout"
    path.mkdir()
    return path


@pytest.fixture
def redis_server_url() -> str:
    """The test Redis URL, or skip: Redis-backed behaviour needs a real server."""
    url = redis_url()
    if not url:
        pytest.skip("needs JUNCTION_TEST_REDIS_URL (a real Redis server)")
    return url


def _clear_tables() -> None:
    db.session.remove()
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    inspector = sa.inspect(db.engine)
    existing = set(inspector.get_table_names())
    with db.engine.begin() as connection:
        for table in tables:
            if table.name in existing:
                connection.execute(table.delete())
