"""The ``agents`` plugin: agent tasks and runs with durable plan approval, agent teams as
plugins, live events, metrics, and per-project agent processes.

Hook implementations only; the logic lives in the modules beside this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def junction_addhooks(pluginmanager: Any) -> None:
    """Add ``junction_agent_teams`` for plugins that contribute agent teams."""
    from plugins.agents import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def junction_agent_teams() -> Iterable[Any]:
    """The built-in teams: ``echo`` and ``subprocess``."""
    from plugins.agents.echo_team import EchoTeam
    from plugins.agents.shell_team import SubprocessTeam

    return [EchoTeam(), SubprocessTeam()]


@hookimpl
def junction_blueprints(app: Any) -> list[Any]:
    """``/api/tasks``, ``/api/runs``, ``/api/metrics`` and ``/api/projects/{name}/agent``."""
    from plugins.agents.process_routes import process_blp
    from plugins.agents.routes import blueprints

    return [*blueprints(), process_blp]


@hookimpl
def junction_migrations() -> str:
    """The plugin's Alembic branch (``agents``)."""
    return str(Path(__file__).parent / "migrations" / "versions")


@hookimpl
def junction_settings() -> Mapping[str, Any]:
    """Per-project agent and feature commands, the hard-stop grace period."""
    from plugins.agents.config import DECLARATION

    return DECLARATION


@hookimpl
def junction_operations() -> Mapping[str, Callable[..., Any]]:
    """Run execution (``agents.run``) and agent processes (``agents.process``)."""
    from plugins.agents import processes
    from plugins.agents.execution import run_operation
    from plugins.agents.runs import KIND
    from plugins.agents.supervisor import process_operation

    return {KIND: run_operation, processes.KIND: process_operation}


@hookimpl
def junction_jobs(scheduler: Any) -> None:
    """Time out runs whose approval deadline passed; fail runs whose operation died."""
    from plugins.agents.runs import expire_overdue, reconcile_orphans
    from plugins.agents.supervisor import reconcile_processes

    def deadlines() -> int:
        return expire_overdue() + reconcile_orphans() + reconcile_processes()

    scheduler.add(deadlines, seconds=1, id="deadlines")


@hookimpl
def junction_startup(app: Any) -> None:
    """Collect the agent teams and serve the seed's WebSocket streams."""
    from plugins.agents.teams import collect_teams
    from plugins.agents.ws import ws_bp

    collect_teams(app)
    app.register_blueprint(ws_bp)


@hookimpl
def junction_cli(cli: Any, app: Any) -> None:
    """``junction agents ...``."""
    from plugins.agents.cli import agents_group

    cli.add_command(agents_group)


@hookimpl
def junction_console_panels() -> list[Any]:
    """``/console/agents/``: tasks, live runs, approvals, a run's log and metrics, processes."""
    from app.console import Panel
    from plugins.agents import console

    return [
        Panel(
            title="Agents",
            template="agents/panel.html",
            view=console.panel_context,
            channels=list(console.CHANNELS),
            actions={
                "approve": console.approve,
                "reject": console.reject,
                "start": console.start,
                "soft-stop": console.soft_stop,
                "stop": console.stop,
            },
            description="Agent tasks and runs, plans awaiting approval, each project's agent.",
            order=80,
        )
    ]
