"""The ``planning`` plugin: MQ Planning (a white-labelled Plane) sync for Junction.

Hook implementations only; the logic lives in the modules beside this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def junction_blueprints(app: Any) -> list[Any]:
    """The ``/api/planning`` blueprint."""
    from plugins.planning.routes import blp

    return [blp]


@hookimpl
def junction_migrations() -> str:
    """The plugin's Alembic branch (``planning``)."""
    return str(Path(__file__).parent / "migrations" / "versions")


@hookimpl
def junction_settings() -> Mapping[str, Any]:
    """The seed's shared and per-project settings."""
    from plugins.planning.config import DECLARATION

    return DECLARATION


@hookimpl
def junction_jobs(scheduler: Any) -> None:
    """Poll the active cycle of every project with sync enabled."""
    from plugins.planning.sync import poll_due_projects

    scheduler.add(poll_due_projects, seconds=5, id="poll")


@hookimpl
def junction_operations() -> Mapping[str, Callable[..., Any]]:
    """Durable re-imports (webhooks), sprint completions and MarQed imports."""
    from plugins.planning import marqed_import, sprint
    from plugins.planning.service import IMPORT_KIND, import_operation

    return {
        IMPORT_KIND: import_operation,
        sprint.KIND: sprint.complete_sprint_operation,
        marqed_import.KIND: marqed_import.marqed_import_operation,
    }


@hookimpl
def junction_cli(cli: Any, app: Any) -> None:
    """``junction planning ...`` (config, test-connection, cycles, import-cycle, marqed-import)."""
    from plugins.planning.cli import planning_group

    cli.add_command(planning_group)


@hookimpl
def junction_console_panels() -> list[Any]:
    """The planning panel at ``/console/planning/``: sync, import, sprint, release notes."""
    from app.console import Panel
    from plugins.planning import console

    return [
        Panel(
            title="Planning",
            template="planning/panel.html",
            view=console.panel_context,
            channels=list(console.CHANNELS),
            actions={
                "toggle": console.toggle,
                "import": console.import_cycle,
                "complete": console.complete_sprint,
            },
            description="MQ Planning sync per project: status, cycles, sprints, release notes.",
            order=10,
        )
    ]
