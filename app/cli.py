"""``flask --app wsgi junction ...``: operator commands of the core, plus plugin commands."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.config import ENV_PREFIX, KEYS, config_name


def register_cli(app: Flask) -> None:
    """Create the ``junction`` group on ``app`` and let plugins add to it."""
    group = AppGroup("junction", help="Junction operator commands.")
    group.parent_app_cli = app.cli  # type: ignore[attr-defined]

    @group.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    def plugins_command(as_json: bool) -> None:
        """List every discovered plugin with its version, status, hooks and error."""
        items = current_app.extensions["junction"].registry.as_list()
        if as_json:
            click.echo(json.dumps(items, indent=2))
            return
        for item in items:
            click.echo(
                f"{item['name']:<16} {item['status']:<9} {item['version'] or '-':<10} "
                f"hooks: {', '.join(item['hooks']) or '-'}"
            )
            if item["error"]:
                click.echo(f"{'':<16} error: {item['error']}")

    @group.command("config")
    @click.option("--markdown", is_flag=True, help="Print the README's table of every key instead.")
    def config_command(markdown: bool) -> None:
        """Show the effective configuration (secrets masked)."""
        if markdown:
            click.echo(config_markdown(), nl=False)
            return
        for key in KEYS:
            value = current_app.config.get(config_name(key.name))
            if key.secret and value:
                value = "****"
            click.echo(f"{ENV_PREFIX}{key.name:<26} {value!r:<40} {key.help}")

    db_group = AppGroup("db", help="Database schema (every plugin branch included).")

    @db_group.command("upgrade")
    def db_upgrade() -> None:
        """Upgrade the schema to every head (core and plugins)."""
        from app.migrate import current_heads, upgrade_all

        upgrade_all()
        click.echo(f"at heads: {', '.join(sorted(current_heads()))}")

    @db_group.command("current")
    def db_current() -> None:
        """Show the revisions the database is at, and whether it is behind."""
        from app.migrate import current_heads, expected_heads

        current, expected = current_heads(), expected_heads()
        click.echo(f"current: {', '.join(sorted(current)) or '(empty)'}")
        missing = expected - current
        if missing:
            click.echo(f"behind; missing heads: {', '.join(sorted(missing))}")
            sys.exit(1)
        click.echo("up to date")

    group.add_command(db_group)
    from app.operations.cli import operations_group

    group.add_command(operations_group)
    from app.scheduler import register_cli as register_scheduler_cli

    register_scheduler_cli(group)
    app.cli.add_command(group)
    app.extensions["junction"].registry.call_each("junction_cli", cli=group)


def config_markdown() -> str:
    """The Markdown table of every configuration key (the README's, kept in sync by a test)."""
    lines = ["| variable | default | description |", "|---|---|---|"]
    for key in KEYS:
        default = "*unset*" if key.default in (None, []) else f"`{key.default}`"
        if isinstance(key.default, bool):
            default = f"`{str(key.default).lower()}`"
        help_text = key.help + (" Secret: never shown or logged." if key.secret else "")
        lines.append(f"| `{ENV_PREFIX}{key.name}` | {default} | {help_text} |")
    return "\n".join(lines) + "\n"
