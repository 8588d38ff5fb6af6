"""``junction blackboard ...``: look at the board from a shell."""

from __future__ import annotations

import json

import click

from app.cli_errors import JunctionGroup

blackboard_group = JunctionGroup("blackboard", help="The blackboard: types, agents, correlations.")


def _echo(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@blackboard_group.command("types")
def types_command() -> None:
    """List the artifact types."""
    from plugins.blackboard.artifact_types import list_types

    _echo([info.public() for info in list_types()])


@blackboard_group.command("agents")
def agents_command() -> None:
    """List the agents (never their secrets)."""
    from plugins.blackboard.agents import all_agents

    _echo([agent.public() for agent in all_agents()])


@blackboard_group.command("correlation")
@click.argument("correlation_id")
def correlation_command(correlation_id: str) -> None:
    """Show a correlation's status."""
    from plugins.blackboard.queries import correlation_status

    _echo(correlation_status(correlation_id))


@blackboard_group.command("set")
@click.argument("assignments", nargs=-1, required=True)
def set_command(assignments: tuple[str, ...]) -> None:
    """Change settings: ``junction blackboard set max_depth=20 circuit_cooldown_seconds=60``."""
    from app import settings
    from app.cli_errors import CliError
    from plugins.blackboard.config import DECLARATION, NAMESPACE

    values: dict[str, object] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        kind = DECLARATION["fields"].get(key, {}).get("type")
        if not sep or kind is None:
            known = ", ".join(DECLARATION["fields"])
            raise CliError(f"Expected KEY=VALUE with KEY one of {known}; got {item!r}.")
        try:
            values[key] = int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise CliError(f"{key} must be a number; got {raw!r}.") from None
    _echo(settings.set_values(NAMESPACE, values))
