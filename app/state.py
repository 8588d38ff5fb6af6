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
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, current_app

if TYPE_CHECKING:  # annotations only: the subsystems import this module, not the reverse
    from flask_smorest import Api

    from app.events.hub import Hub
    from app.idempotency import IdempotencyPolicy
    from app.operations.runtime import Runtime
    from app.plugins import PluginRegistry
    from app.scheduler.service import SchedulerService

EXTENSION = "junction"


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
    - ``events`` — the event hub of this process (:mod:`app.events`).
    - ``scheduler`` — the scheduler service (:mod:`app.scheduler`).
    - ``idempotency`` — the Idempotency-Key policy (:mod:`app.idempotency`; tests swap its clock).
    - ``operations`` — the operations runtime (leases, runner threads).
    - ``secrets`` — the settings encryption of this app (:mod:`app.settings`).
    """

    instance_path: Path
    registry: PluginRegistry
    api: Api | None = None
    core_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    plugin_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    settings_specs: dict[str, Any] = field(default_factory=dict)
    operation_handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    migration_locations: list[str] = field(default_factory=list)
    events: Hub | None = None
    scheduler: SchedulerService | None = None
    idempotency: IdempotencyPolicy | None = None
    operations: Runtime | None = None
    secrets: Any = None

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
