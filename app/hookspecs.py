"""The plugin interface of Junction.

Every hook is one function here with a docstring, and ``docs/plugins.md`` documents each under
a heading of its name (``tests/core/test_hookspecs.py`` fails when one is missing). Plugins
implement hooks with :data:`hookimpl`; a plugin that offers hooks to other plugins declares them
in a module of its own and adds it through :func:`junction_addhooks`, as pytest plugins do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from flask import Flask

PROJECT_NAME = "junction"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def junction_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add hookspecs that other plugins may implement.

    Called once, right after the plugin is registered and before any other hook runs, so a
    plugin such as ``builds`` can declare ``junction_queue_backends`` for the ``queue_*``
    plugins. Call ``pluginmanager.add_hookspecs(module)`` with a module of ``@hookspec``
    functions whose names start with ``junction_``.
    """


@hookspec
def junction_blueprints(app: Flask) -> list[Any]:
    """Return the plugin's flask-smorest ``Blueprint`` objects.

    They are registered through the core's ``Api`` so their routes, request and response
    schemas appear in ``/api/openapi.json``. Name each blueprint after the plugin (``<plugin>``
    or ``<plugin>_...``: enforced, a plugin returning another name is failed) and mount it
    under the URL prefix the API map of ``DESIGN.md`` gives it. Plain Flask blueprints are
    accepted too (for WebSocket routes) but stay out of the OpenAPI document. The tables of
    models the plugin's package defines must be named ``<plugin>_...`` (enforced likewise).
    """


@hookspec
def junction_migrations() -> str | None:
    """Return the path of the plugin's Alembic ``versions`` folder, or ``None``.

    The folder holds one branch of its own: its first revision sets
    ``branch_labels = ("<plugin>",)`` and ``depends_on = "core_0001"`` so it applies after the
    core schema. ``junction db upgrade`` upgrades every head.
    """


@hookspec
def junction_settings() -> Mapping[str, Any] | None:
    """Return the plugin's settings declaration: ``{"namespace": str, "fields": {...}}``.

    Each field is ``{"type": "str"|"int"|"float"|"bool"|"list"|"json", "default": ...,
    "secret": bool, "scope": "global"|"project"|"both", "help": str}``, optionally with
    ``choices`` and ``min``/``max``. Secret fields are stored encrypted when
    ``JUNCTION_SECRET_KEY`` is set and are never returned in clear (see ``app.settings`` and
    ``docs/settings.md``). The namespace is the plugin's name (or starts with ``<plugin>_``):
    enforced at load.
    """


@hookspec
def junction_jobs(scheduler: Any) -> None:
    """Register periodic jobs on ``scheduler`` (``app.scheduler.JobRegistry``).

    Called once at start-up in every process, so ``junction jobs`` lists the same jobs
    everywhere; the jobs *run* on the elected leader only, so a job runs once per deployment
    however many gunicorn workers there are. Use ``scheduler.add(func, seconds=..., id=...)``;
    job ids are prefixed with the plugin name.
    """


@hookspec
def junction_operations() -> Mapping[str, Callable[..., Any]] | None:
    """Return ``{kind: handler}`` for the plugin's durable operations.

    A handler is called as ``handler(ctx)`` with an ``app.operations.OperationContext``: it
    reads ``ctx.params`` and ``ctx.checkpoint``, reports progress, saves checkpoints and returns
    the result. It must be resumable and must not repeat external side effects. Kinds are
    ``"<plugin>.<verb>"`` (enforced at load: a kind outside the plugin's namespace fails it).
    A request answers with the operation through ``app.operations.submit_and_respond``.
    """


@hookspec
def junction_cli(cli: click.Group, app: Flask) -> None:
    """Add the plugin's command group to ``cli``, the application's ``junction`` group.

    As FlaskBB's ``flaskbb_cli(cli, app)``: add one group named after the plugin
    (``cli.add_command(planning_group)``) and operators type ``junction planning ...`` (or
    ``flask --app wsgi planning ...``). Use a ``flask.cli.AppGroup`` so commands run inside
    the application context; ``app`` is the application being built (read its config here,
    not at import time).
    """


@hookspec
def junction_health_checks() -> Mapping[str, Callable[[], Any]] | None:
    """Return ``{name: check}`` callables run by ``/readyz``.

    A check returns normally when healthy (a string return value is shown as detail) and
    raises with a short, secret-free message when not; ``/readyz`` answers 503 naming it.
    Keep checks fast: they run on every readiness probe.
    """


@hookspec
def junction_startup(app: Flask) -> None:
    """Run once when the application has been created, after blueprints are registered.

    For wiring that needs the configured app (extension objects, signal handlers). Do no
    network I/O here: an unreachable external service must not stop Junction from starting.
    """


@hookspec
def junction_console_panels() -> list[Any] | None:
    """Return the plugin's pages of the web console: ``app.console.Panel`` objects (or dicts).

    Each panel gives a ``title``, a Jinja ``template`` named ``<plugin>/...`` in the plugin
    package's ``templates/`` folder, a ``view`` returning the template's context, the event
    ``channels`` it follows (an event on one re-renders it live) and optional ``actions``
    (``{name: callable(form)}``, CSRF-checked ``POST``s). The core mounts the panel at
    ``/console/<plugin>/<path>``: a plugin's pages live under its own prefix, and an explicit
    ``name`` must be in its namespace (enforced at load). See ``docs/console.md``.
    """
