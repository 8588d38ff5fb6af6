"""The ``builds`` plugin: control plane of a wheel-build service.

Build history and statistics, the build queue (its backends are a hook of this plugin, the
``file`` backend lives here), hints, searchable logs with a live tail, plans, manifests,
artifacts and the worker trigger. Hook implementations only; the logic lives beside this file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def junction_addhooks(pluginmanager: Any) -> None:
    """Declare ``junction_builds_queue_backends`` for the ``queue_*`` plugins."""
    from plugins.builds import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def junction_builds_queue_backends() -> Mapping[str, Callable[..., Any]]:
    """The built-in ``file`` backend."""
    from plugins.builds.queue_file import file_backend

    return {"file": file_backend}


@hookimpl
def junction_blueprints(app: Any) -> list[Any]:
    """The ``/api/builds`` API and the ``/ws/builds/...`` live tail."""
    from plugins.builds.routes import blp
    from plugins.builds.ws import ws_blp

    return [blp, ws_blp]


@hookimpl
def junction_migrations() -> str:
    """The plugin's Alembic branch (``builds``)."""
    return str(Path(__file__).parent / "migrations" / "versions")


@hookimpl
def junction_settings() -> Mapping[str, Any]:
    """Targets, index, queue backend, limits, worker trigger and token."""
    from plugins.builds.config import DECLARATION

    return DECLARATION


@hookimpl
def junction_health_checks() -> Mapping[str, Callable[[], Any]]:
    """``builds.queue``: the queue backend answers."""
    from plugins.builds.status import readiness_check

    return {"queue": readiness_check}


@hookimpl
def junction_operations() -> Mapping[str, Callable[..., Any]]:
    """``builds.drain``: the local worker trigger."""
    from plugins.builds.trigger import DRAIN_KIND, drain_operation

    return {DRAIN_KIND: drain_operation}


@hookimpl
def junction_console_panels() -> list[Any]:
    """``/console/builds/``: queue, builds and failures with hints, tops, log tail, search."""
    from app.console import Panel
    from plugins.builds import console

    return [
        Panel(
            title="Builds",
            template="builds/panel.html",
            view=console.panel_context,
            channels=list(console.CHANNELS),
            description="The build queue, recent builds and failures with their hints, "
            "a live log tail and log search.",
            order=80,
        )
    ]


@hookimpl
def junction_cli(cli: Any, app: Any) -> None:
    """``junction builds enqueue|queue|worker|hints|logs search|summary``."""
    from plugins.builds.cli import builds_group

    cli.add_command(builds_group)
