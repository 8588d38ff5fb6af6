"""hello: an example third-party Junction plugin.

This module holds the hook implementations and nothing else; the work lives in ``models``,
``schemas``, ``routes``, ``service``, ``jobs`` and ``cli``. Junction finds the plugin through
the ``junction.plugins`` entry point in ``pyproject.toml``; docs/plugins.md walks through it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from app.console import Panel
from app.hookspecs import hookimpl
from hello_plugin import console, jobs, service
from hello_plugin.cli import hello_group
from hello_plugin.routes import blp

__version__ = "0.1.0"


@hookimpl(optionalhook=True)
def junction_agent_teams() -> list[Any]:
    """An agent team for the ``agents`` plugin (optional: ignored when it is not installed)."""
    from hello_plugin.team import GreeterTeam

    return [GreeterTeam()]


@hookimpl
def junction_blueprints() -> list[Any]:
    """The plugin's API, under ``/api/hello``."""
    return [blp]


@hookimpl
def junction_migrations() -> str:
    """The folder of the ``hello`` migration branch."""
    return str(Path(__file__).resolve().parent / "migrations" / "versions")


@hookimpl
def junction_settings() -> dict[str, Any]:
    """Settings of namespace ``hello``, read with ``app.settings.get("hello", key)``."""
    return {
        "namespace": "hello",
        "fields": {
            "greeting": {
                "type": "str",
                "default": "Hello, {name}!",
                "scope": "global",
                "help": "Message of a greeting asked for without one; {name} is replaced.",
            },
            "batch_size": {
                "type": "int",
                "default": 100,
                "min": 1,
                "max": 1000,
                "scope": "global",
                "help": "Greetings the deliver job handles per run.",
            },
        },
    }


@hookimpl
def junction_jobs(scheduler: Any) -> None:
    """Deliver pending greetings every 30 seconds (job id ``hello.deliver``)."""
    scheduler.add(jobs.deliver_greetings, seconds=30, id="deliver")


@hookimpl
def junction_cli(cli: click.Group, app: Any) -> None:
    """``junction hello ...`` (``cli`` is the application's ``junction`` group)."""
    cli.add_command(hello_group)


@hookimpl
def junction_console_panels() -> list[Panel]:
    """One panel at ``/console/hello/``, live on ``hello:greetings``, with a ``greet`` action."""
    return [
        Panel(
            title="Hello",
            template="hello/panel.html",
            view=console.panel_context,
            channels=[service.CHANNEL],
            actions={"greet": console.greet},
            description="The example plugin's greetings.",
        )
    ]


@hookimpl
def junction_health_checks() -> dict[str, Callable[[], Any]]:
    """``hello.greetings`` in ``/readyz``."""
    return {"greetings": service.health_check}
