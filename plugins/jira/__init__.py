"""The ``jira`` plugin: export tickets to Jira Cloud — HTML to ADF, live progress, retry from
the failure point, never a duplicate.

Hook implementations only; the logic lives in the modules beside this one (docs/jira.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def junction_blueprints(app: Any) -> list[Any]:
    """``/api/jira`` and the export progress WebSocket."""
    from plugins.jira.routes import blp, ws_bp

    return [blp, ws_bp]


@hookimpl
def junction_migrations() -> str:
    """The plugin's Alembic branch (``jira``)."""
    return str(Path(__file__).parent / "migrations" / "versions")


@hookimpl
def junction_settings() -> Mapping[str, Any]:
    """Site URL, e-mail, API token (secret, bound to the site URL), project key, pacing."""
    from plugins.jira.config import DECLARATION

    return DECLARATION


@hookimpl
def junction_operations() -> Mapping[str, Callable[..., Any]]:
    """``jira.export``: the durable, resumable export of one session."""
    from plugins.jira.export import KIND, export_operation

    return {KIND: export_operation}


@hookimpl
def junction_cli(cli: Any, app: Any) -> None:
    """``junction jira ...``."""
    from plugins.jira.cli import jira_group

    cli.add_command(jira_group)


@hookimpl
def junction_console_panels() -> list[Any]:
    """``/console/jira/``: sessions, live export progress, failures with Retry, results."""
    from app.console import Panel
    from plugins.jira import console

    return [
        Panel(
            title="Jira",
            template="jira/panel.html",
            view=console.panel_context,
            channels=list(console.CHANNELS),
            actions={"export": console.export, "retry": console.retry},
            description="Export sessions to Jira: progress, failures and what to do, results.",
            order=60,
        )
    ]
