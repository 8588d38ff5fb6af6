"""pytest fixtures for plugin authors: a Junction app on a fresh, migrated database.

Installing Junction registers this module as the pytest plugin ``junction`` (entry point group
``pytest11``), so a plugin's tests use the fixtures without importing anything; where entry
points are not loaded (``-p no:junction``, ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``) put
``pytest_plugins = ["app.testing"]`` in the top-level ``conftest.py``.

Fixtures (all named ``junction_*`` so they never clash with a project's own ``app``/``client``):

``junction_plugins``
    Enable list of plugin names (``None``: every installed plugin). Override it in your
    ``conftest.py`` to test your plugin alone: ``return ["hello"]``.
``junction_extra_plugins``
    ``(name, module)`` pairs registered beside the entry points (a plugin not installed).
``junction_config``
    Configuration overrides by their ``app.config`` names (``{"JUNCTION_API_TOKENS": ["t"]}``);
    the scheduler is off unless you set ``JUNCTION_SCHEDULER``.
``junction_make_app``
    Factory: ``junction_make_app(plugins=..., extra_plugins=..., config=..., environ=...)``
    builds another app, each on its own fresh database.
``junction_app``, ``junction_client``, ``junction_runner``
    The app built from the three fixtures above, its test client and its CLI runner.
``junction_clock``
    A :class:`FakeClock`: time that moves only when code sleeps on it or the test advances
    it. Give it where code takes a clock (``ServiceClient(clock=..., sleep=...)``,
    ``operations.runtime(app).now = junction_clock.now``) and no test waits for real time.

The database is a new SQLite file in ``tmp_path`` for every app, migrated to every head of the
core and of the enabled plugins (exactly what ``flask junction db upgrade`` does). With
``JUNCTION_TEST_DATABASE_URL`` pointing to a PostgreSQL server, each app gets a new database
there instead, dropped when the test ends.

Helpers: :func:`run_job` runs one scheduled job now and returns its result, :func:`invoke` runs
a ``flask junction`` command, :func:`migration_drift` lists what Alembic's autogenerate would
change, i.e. where models and migrations disagree.

Imports of Junction itself are deferred to the fixtures: this module is loaded by every pytest
run in an environment where Junction is installed and must cost nothing until used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from click.testing import Result
    from flask import Flask
    from flask.testing import FlaskClient, FlaskCliRunner

TEST_DATABASE_ENV = "JUNCTION_TEST_DATABASE_URL"
DEFAULT_CONFIG: dict[str, Any] = {"JUNCTION_SCHEDULER": "off", "JUNCTION_LOG_LEVEL": "warning"}


# -- time --------------------------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when someone sleeps on it or a test advances it.

    One object answers both kinds of time code asks for: ``clock()`` (or
    :meth:`monotonic`) is a monotonic float of seconds, :meth:`now` an aware UTC datetime and
    :meth:`wall` epoch seconds, all moving together. :meth:`sleep` advances instead of
    waiting and records how long was asked for in :attr:`slept`. Thread-safe.
    """

    def __init__(
        self,
        start: float = 10_000.0,
        wall_start: dt.datetime = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC),
    ) -> None:
        self._start = start
        self.monotonic_now = start
        self.wall_start = wall_start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Monotonic seconds (for ``clock=`` parameters)."""
        return self.monotonic_now

    def monotonic(self) -> float:
        """Monotonic seconds."""
        return self.monotonic_now

    def now(self) -> dt.datetime:
        """The current time as an aware UTC datetime (starts at ``wall_start``)."""
        return self.wall_start + dt.timedelta(seconds=self.monotonic_now - self._start)

    def wall(self) -> float:
        """The current time as epoch seconds."""
        return self.now().timestamp()

    def sleep(self, seconds: float) -> None:
        """Advance instead of waiting (for ``sleep=`` parameters)."""
        with self._lock:
            self.slept.append(seconds)
            # At least a microsecond: a rate limiter asking for 1e-12 s more (float rounding
            # of its refill) would otherwise never see time pass on a clock near 10,000.
            self.monotonic_now += max(1e-6, seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (not recorded in :attr:`slept`)."""
        with self._lock:
            self.monotonic_now += seconds


# -- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(directory: Path, server_url: str | None = None) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards when it is a server's.

    Without ``server_url`` it is a SQLite file in ``directory``; with a PostgreSQL URL it is
    a new database on that server (the user needs ``CREATEDB``).
    """
    if not server_url:
        yield f"sqlite:///{directory / f'junction-{uuid.uuid4().hex[:8]}.db'}"
        return
    import sqlalchemy as sa

    server = sa.make_url(server_url)
    if server.drivername in {"postgresql", "postgres"}:
        server = server.set(drivername="postgresql+psycopg")
    name = f"junction_plugin_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # The app's pool is disposed already; anything left over must not block DROP.
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


# -- building apps -----------------------------------------------------------------------------


class AppFactory:
    """Builds migrated test apps and cleans every one of them up in :meth:`close`."""

    def __init__(self, directory: Path, server_url: str | None = None) -> None:
        self.directory = directory
        self.server_url = server_url
        self._stack = contextlib.ExitStack()

    def __call__(
        self,
        *,
        plugins: Iterable[str] | None = None,
        extra_plugins: Iterable[tuple[str, Any]] = (),
        config: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        migrate: bool = True,
    ) -> Flask:
        """A new app on a new database migrated to every head (``migrate=False``: empty).

        ``plugins`` is the enable list (``None``: all installed); ``environ`` replaces the
        process environment, so a developer's ``JUNCTION_*`` variables never leak in.
        """
        from app import create_app
        from app.db import db

        url = self._stack.enter_context(fresh_database(self.directory, self.server_url))
        instance = self.directory / f"instance-{uuid.uuid4().hex[:8]}"
        overrides: dict[str, Any] = {**DEFAULT_CONFIG, "JUNCTION_DATABASE_URL": url}
        if plugins is not None:
            overrides["JUNCTION_PLUGINS"] = list(plugins)
        overrides.update(config or {})
        app = create_app(
            overrides,
            instance_path=instance,
            extra_plugins=list(extra_plugins),
            environ=dict(environ or {}),
        )
        app.config["TESTING"] = True
        self._stack.callback(_dispose, app)
        if migrate:
            from app.migrate import upgrade_all

            with app.app_context():
                upgrade_all()
                # Migrations ran on their own connections; start the test on fresh ones.
                db.session.remove()
        return app

    def close(self) -> None:
        """Dispose every app's connections and drop the server databases."""
        self._stack.close()


def _dispose(app: Flask) -> None:
    from app.db import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run_job(app: Flask, job_id: str) -> Any:
    """Run the scheduled job ``job_id`` (``"<plugin>.<id>"``) once, now; return its result.

    Works with the scheduler off, as in tests. Fails the test with the job's error if it raised.
    """
    from app.scheduler import run_job_once

    run = run_job_once(app, job_id)
    if run.outcome != "success":
        raise AssertionError(f"job {job_id} ended {run.outcome}: {run.error}")
    return run.result


def invoke(runner: FlaskCliRunner, *args: str) -> Result:
    """Run ``junction ARGS...`` with ``runner`` and return click's result.

    A plugin's own group too: ``invoke(runner, "hello", "greet", "Ada")``.
    """
    return runner.invoke(args=["junction", *args])


def migration_drift(app: Flask, table_prefix: str | None = None) -> list[Any]:
    """Differences autogenerate finds between the models and the migrated database.

    Empty when a plugin's migrations create exactly what its models declare (indexes and
    constraint names included). ``table_prefix`` (``"hello_"``) keeps a plugin's own tables.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from app.db import db, include_name

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        diffs = compare_metadata(context, db.metadata)
    if table_prefix is None:
        return list(diffs)
    return [diff for diff in diffs if (_diff_table(diff) or "").startswith(table_prefix)]


def _diff_table(diff: Any) -> str | None:
    """The table an autogenerate diff entry is about (entries vary by kind)."""
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return _diff_table(diff[0]) if diff else None
    kind, subject = diff[0], diff[1]
    if kind in {"add_column", "remove_column"} or kind.startswith("modify_"):
        return cast(str, diff[2])
    if kind in {"add_fk", "remove_fk"}:
        return cast(str, subject.parent.name)
    table = getattr(subject, "table", subject)
    return getattr(table, "name", None)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def junction_plugins() -> list[str] | None:
    """Enable list for :func:`junction_app`; ``None`` loads every installed plugin."""
    return None


@pytest.fixture
def junction_extra_plugins() -> list[tuple[str, Any]]:
    """``(name, module)`` pairs :func:`junction_app` registers beside the entry points."""
    return []


@pytest.fixture
def junction_config() -> dict[str, Any]:
    """Configuration overrides for :func:`junction_app` (``JUNCTION_*`` names)."""
    return {}


@pytest.fixture
def junction_clock() -> FakeClock:
    """A fresh :class:`FakeClock` (monotonic 10,000 s, wall 2030-01-01 12:00 UTC)."""
    return FakeClock()


@pytest.fixture
def junction_make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Factory of migrated apps, each on its own fresh database; see :class:`AppFactory`."""
    factory = AppFactory(tmp_path, os.environ.get(TEST_DATABASE_ENV) or None)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def junction_app(
    junction_make_app: Callable[..., Flask],
    junction_plugins: list[str] | None,
    junction_extra_plugins: list[tuple[str, Any]],
    junction_config: dict[str, Any],
) -> Flask:
    """A Junction app on a fresh database migrated to every head, scheduler off."""
    return junction_make_app(
        plugins=junction_plugins, extra_plugins=junction_extra_plugins, config=junction_config
    )


@pytest.fixture
def junction_client(junction_app: Flask) -> FlaskClient:
    """A test client of :func:`junction_app` (loopback, so no token is needed)."""
    return junction_app.test_client()


@pytest.fixture
def junction_runner(junction_app: Flask) -> FlaskCliRunner:
    """A CLI runner of :func:`junction_app`: ``invoke(args=["junction", ...])``."""
    return junction_app.test_cli_runner()
