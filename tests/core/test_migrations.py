"""Persistence: SQLite pragmas, PostgreSQL through psycopg 3, migrations that match the models."""

from __future__ import annotations

from pathlib import Path
from pprint import pformat

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask

from app import create_app
from app.db import db, include_name
from app.migrate import check_at_heads, current_heads, expected_heads
from tests.conftest import BASE_OVERRIDES
from tests.support import fresh_database, pg_server_url


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(app: Flask) -> None:
    if pg_server_url():
        pytest.skip("SQLite pragmas; this run uses PostgreSQL")
    with app.app_context():
        db.engine.dispose()  # a brand-new connection gets the pragmas too
        with db.engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 10000


def test_the_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    app = create_app(BASE_OVERRIDES, instance_path=tmp_path, environ={})
    with app.app_context():
        assert db.engine.dialect.name == "sqlite"
        assert db.engine.url.database is not None
        assert Path(db.engine.url.database) == tmp_path.resolve() / "junction.db"
        db.engine.dispose()


def test_postgresql_urls_use_psycopg_3(make_app) -> None:
    url = pg_server_url()
    if not url:
        pytest.skip("needs JUNCTION_TEST_DATABASE_URL (PostgreSQL)")
    plain = sa.make_url(make_app().config["SQLALCHEMY_DATABASE_URI"])
    plain_url = plain.set(drivername="postgresql").render_as_string(hide_password=False)
    app = make_app({"JUNCTION_DATABASE_URL": plain_url})
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        assert db.engine.dialect.driver == "psycopg"
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1


def test_db_upgrade_command_brings_an_empty_database_to_every_head(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        app = create_app({**BASE_OVERRIDES, "JUNCTION_DATABASE_URL": url}, instance_path=tmp_path)
        runner = app.test_cli_runner()
        try:
            with app.app_context():
                assert current_heads() == set()
                with pytest.raises(RuntimeError, match="junction db upgrade"):
                    check_at_heads()
            behind = runner.invoke(args=["junction", "db", "current"])
            assert behind.exit_code == 1
            assert "behind" in behind.output

            result = runner.invoke(args=["junction", "db", "upgrade"])
            assert result.exit_code == 0, result.output
            assert "at heads:" in result.output
            with app.app_context():
                heads = expected_heads()
                assert "core_0001" not in heads or len(heads) == 1  # core_0001 is not a head
                assert current_heads() == heads
                assert check_at_heads() == "schema at every head"
                tables = set(sa.inspect(db.engine).get_table_names())
            assert {"projects", "features", "test_runs"} <= tables

            again = runner.invoke(args=["junction", "db", "upgrade"])  # idempotent
            assert again.exit_code == 0, again.output
            current = runner.invoke(args=["junction", "db", "current"])
            assert current.exit_code == 0, current.output
            assert "up to date" in current.output
        finally:
            with app.app_context():
                db.engine.dispose()


def test_models_and_migrations_agree(app: Flask) -> None:
    """Autogenerate against the migrated database finds nothing to do, for all of db.metadata.

    Every model imported by the core and the enabled plugins is part of ``db.metadata``; a
    table, column, type, index or constraint a migration forgot (or one a model lost) shows up
    as a difference here, on whichever database the suite runs.
    """
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "target_metadata": db.metadata,
                # Tables a plugin's migration makes on purpose without a model (full-text).
                "include_name": include_name,
            },
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == [], pformat(differences)
    assert {"projects", "features", "test_runs"} <= set(db.metadata.tables)


def test_a_failed_request_leaves_the_session_usable(client, project_dir: Path) -> None:
    # A constraint error inside one request must not poison the next one on the same worker.
    assert (
        client.post("/api/projects", json={"name": "p", "path": str(project_dir)}).status_code
        == 201
    )
    client.post("/api/projects/p/features", json={"name": "a", "planning_work_item_id": "W"})
    assert (
        client.post(
            "/api/projects/p/features", json={"name": "b", "planning_work_item_id": "W"}
        ).status_code
        == 409
    )
    assert client.get("/api/projects/p/features").get_json()["total"] == 1
