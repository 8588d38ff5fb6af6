"""The ``blackboard`` plugin: typed artifacts, agents subscribed by type, synchronous publish.

Hook implementations only; the logic lives in the modules beside this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def junction_addhooks(pluginmanager: Any) -> None:
    """Declare the artifact-type and agent hooks other plugins implement."""
    from plugins.blackboard import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def junction_blueprints(app: Any) -> list[Any]:
    """The ``/api/v1`` blueprint."""
    from plugins.blackboard.routes import blp

    return [blp]


@hookimpl
def junction_migrations() -> str:
    """The plugin's Alembic branch (``blackboard``)."""
    return str(Path(__file__).parent / "migrations" / "versions")


@hookimpl
def junction_settings() -> Mapping[str, Any]:
    """Cascade limits and the HTTP agents' circuit breaker."""
    from plugins.blackboard.config import DECLARATION

    return DECLARATION


@hookimpl
def junction_operations() -> Mapping[str, Callable[..., Any]]:
    """One durable operation per consumption (a matched artifact, agent pair)."""
    from plugins.blackboard.cascade import KIND, consume_operation

    return {KIND: consume_operation}


@hookimpl
def junction_cli(cli: Any, app: Any) -> None:
    """``junction blackboard ...`` (types, agents, correlation status)."""
    from plugins.blackboard.cli import blackboard_group

    cli.add_command(blackboard_group)


@hookimpl
def junction_startup(app: Any) -> None:
    """Collect the plugins' types and agents; add the seed's members to ``/api/v1`` problems."""
    from app.errors import add_problem_hook
    from plugins.blackboard import problems, registry

    registry.collect(app)
    add_problem_hook(app, problems.seed_members)


@hookimpl
def junction_console_panels() -> list[Any]:
    """``/console/blackboard/``: types, agents and their health, a cascade growing live."""
    from app.console import Panel
    from plugins.blackboard import console

    return [
        Panel(
            title="Blackboard",
            template="blackboard/panel.html",
            view=console.panel_context,
            channels=list(console.CHANNELS),
            actions={"publish": console.publish},
            description="Artifact types, agents and their health, cascades as they grow.",
            order=70,
        )
    ]
