"""The core's runtime state: one typed object on ``app.extensions["junction"]``.

Configuration is not here: it is in ``app.config`` as flat ``JUNCTION_<NAME>`` keys (see
:mod:`app.config`). This object holds what the core *builds* at start-up — the plugin registry,
the API, the readiness checks, the declared settings and operation kinds — and the per-app
services of each subsystem. Every field is set once by ``create_app`` (or the subsystem's
``init_app``); read them through :func:`junction_state`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Flask, Request, current_app, request

if TYPE_CHECKING:  # annotations only; neither module imports this one
    from flask_smorest import Api

    from app.plugins import PluginRegistry

EXTENSION = "junction"
T = TypeVar("T")


@dataclass
class JunctionState:
    """What the core keeps on ``app.extensions["junction"]``.

    Fields:

    - ``instance_path`` — the resolved instance folder (config file, SQLite file, locks).
    - ``registry`` — the plugin registry: every discovered plugin, its status and error.
    - ``api`` — the flask-smorest ``Api`` (every documented blueprint registers through it).
    - ``core_checks`` / ``plugin_checks`` — ``/readyz`` checks by name (plugin checks are named
      ``<plugin>.<check>``).
    - ``settings_specs`` — declared settings namespaces (:mod:`app.settings`).
    - ``operation_handlers`` — durable operation kinds and their handlers (:mod:`app.operations`).
    - ``migration_locations`` — Alembic version folders: the core's, then each plugin's.
    - ``secrets`` — the settings encryption of this app (:mod:`app.settings`).
    - the per-app services of the subsystems, one per class, through :meth:`service` and
      :meth:`set_service`: the event hub of this process (:mod:`app.events`), the scheduler
      service (:mod:`app.scheduler`), the Idempotency-Key policy (:mod:`app.idempotency`) and
      the operations runtime (:mod:`app.operations`). Keyed by class so this module needs none
      of them: each subsystem imports this one, never the reverse.
    """

    instance_path: Path
    registry: PluginRegistry
    api: Api | None = None
    core_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    plugin_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    settings_specs: dict[str, Any] = field(default_factory=dict)
    operation_handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    migration_locations: list[str] = field(default_factory=list)
    secrets: Any = None
    services: dict[type[Any], Any] = field(default_factory=dict)

    def service(self, kind: type[T]) -> T | None:
        """The app's service of class ``kind``, ``None`` before its subsystem set it."""
        return cast("T | None", self.services.get(kind))

    def set_service(self, kind: type[T], value: T) -> T:
        """Make ``value`` the app's service of class ``kind``; return it."""
        self.services[kind] = value
        return value

    def ready_checks(self) -> dict[str, Callable[[], Any]]:
        """Core checks first, then each plugin's (named ``<plugin>.<check>``)."""
        return {**self.core_checks, **self.plugin_checks}


def junction_state(app: Flask | None = None) -> JunctionState:
    """The :class:`JunctionState` of ``app`` (default: the current app)."""
    target = app or current_app
    return cast(JunctionState, target.extensions[EXTENSION])


def current_app_object() -> Flask:
    """The Flask app behind the ``current_app`` proxy, to hand to threads or compare by identity."""
    # Flask annotates the proxy as ``Flask``, so type checkers know neither its LocalProxy method
    # nor what that returns.
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def current_request_object() -> Request:
    """The request behind the ``request`` proxy: for code that reads it many times per request
    (each proxy access is a context-variable lookup)."""
    # As for ``current_app_object``: the proxy is annotated as the ``Request`` it stands for.
    return request._get_current_object()  # type: ignore[attr-defined,no-any-return]
