"""Junction's application factory.

``create_app()`` runs in a fixed order: configuration → logging → extensions → plugins →
blueprints → runtime services → startup hooks. Every plugin step is isolated: a plugin that
raises is recorded as failed and the app is built without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask

from app.config import ConfigError, default_instance_path, flask_config, load_config
from app.flaskapp import JunctionFlask
from app.plugins import PluginRegistry
from app.state import JunctionState

__all__ = ["ConfigError", "JunctionState", "create_app"]


def create_app(
    overrides: dict[str, Any] | None = None,
    *,
    instance_path: str | os.PathLike[str] | None = None,
    extra_plugins: Iterable[tuple[str, Any]] = (),
    environ: dict[str, str] | None = None,
) -> Flask:
    """Build a configured Junction application.

    ``overrides`` take configuration keys above every other source, by their ``app.config``
    names (``{"JUNCTION_DATABASE_URL": ...}``) or their file names (``{"DATABASE_URL": ...}``);
    ``extra_plugins`` registers ``(name, module)`` pairs beside the entry points (tests, embedding).
    """
    from app import api as api_module
    from app import auth, errors, migrate, observability
    from app.bodies import JunctionJSONProvider
    from app.cli import register_cli
    from app.db import db, engine_options, install_sqlite_pragmas

    env = dict(os.environ if environ is None else environ)
    inst = Path(instance_path or env.get("JUNCTION_INSTANCE_PATH") or default_instance_path())
    inst = inst.resolve()
    inst.mkdir(parents=True, exist_ok=True)
    config = load_config(inst, env, overrides)

    observability.configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])

    app = JunctionFlask(__name__, instance_path=str(inst), instance_relative_config=True)
    # The validated keys, flat (``JUNCTION_API_TOKENS``...): the one place every reader uses.
    app.config.update(flask_config(config))
    app.config.update(
        SECRET_KEY=config["SECRET_KEY"] or os.urandom(32).hex(),
        SQLALCHEMY_DATABASE_URI=_normalise_db_url(config["DATABASE_URL"]),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(config["DATABASE_URL"], config["SQL_ECHO"]),
        MAX_CONTENT_LENGTH=config["MAX_CONTENT_LENGTH"],
    )
    # Every request.get_json() goes through app.jsonparse.parse_json and its limits.
    app.json = JunctionJSONProvider(app)
    app.json.sort_keys = False
    _trust_proxies(app, config["TRUSTED_PROXIES"])

    registry = PluginRegistry()
    registry.discover(config["PLUGINS"], config["DISABLED_PLUGINS"], extra_plugins)
    state = JunctionState(instance_path=inst, registry=registry)
    app.extensions["junction"] = state

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)

    plugin_migrations = [str(path) for _, path in registry.call_each("junction_migrations")]
    migrate.init_migrate(app, plugin_migrations)

    observability.init_observability(app)
    app.before_request(auth.check_request)
    app.before_request(api_module.require_json_body)
    errors.register_error_handlers(app)

    state.api = api_module.create_api(app)
    _register_core_blueprints(app, state.api)
    _register_plugin_blueprints(app, state, state.api)
    _init_console(app)

    state.core_checks["database"] = _database_check
    state.core_checks["migrations"] = migrate.check_at_heads
    _init_runtime(app)
    for plugin, checks in registry.call_each("junction_health_checks"):
        for name, check in dict(checks).items():
            state.plugin_checks[f"{plugin}.{name}"] = check

    register_cli(app)
    registry.call_each("junction_startup", app=app)
    return app


def _trust_proxies(app: Flask, hops: int) -> None:
    """Apply ``hops`` reverse proxies' ``X-Forwarded-*`` headers (Werkzeug's ``ProxyFix``).

    Each proxy appends to the headers, so only the last ``hops`` values are believed; whatever a
    client put before them stays untrusted. With 0 nothing is applied and any proxy header makes
    a request "forwarded" (``app.auth.is_direct_loopback``).
    """
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Wrapping wsgi_app in middleware is how Flask documents installing ProxyFix.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )


def _normalise_db_url(url: str) -> str:
    # psycopg 3 is the only PostgreSQL driver we ship; accept the common spellings of the URL.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _database_check() -> str:
    import sqlalchemy as sa

    from app.db import db

    with db.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    return db.engine.dialect.name


def _register_core_blueprints(app: Flask, api: Any) -> None:
    from app.domain.routes import blueprints as domain_blueprints
    from app.plugins_api import blp as plugins_blp

    api.register_blueprint(plugins_blp)
    for blueprint in domain_blueprints():
        api.register_blueprint(blueprint)


def _register_plugin_blueprints(app: Flask, state: JunctionState, api: Any) -> None:
    from flask_smorest import Blueprint as SmorestBlueprint

    for plugin, blueprints in state.registry.call_each("junction_blueprints", app=app):
        try:
            for blueprint in blueprints:
                if isinstance(blueprint, SmorestBlueprint):
                    api.register_blueprint(blueprint)
                else:
                    app.register_blueprint(blueprint)
        except Exception as exc:  # a broken blueprint must not take the app down
            state.registry.mark_failed(plugin, exc, "registering blueprints")


def _init_console(app: Flask) -> None:
    """The web console at ``/`` with the plugins' panels (``junction_console_panels``)."""
    from app import console

    console.init_app(app)


def _init_runtime(app: Flask) -> None:
    """Start the core runtime services (each module owns its own ``init_app``)."""
    from app import events, idempotency, operations, scheduler, settings

    for module in (settings, idempotency, events, operations, scheduler):
        module.init_app(app)
