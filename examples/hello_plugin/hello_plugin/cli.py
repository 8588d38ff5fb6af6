"""``junction hello ...``: the plugin's commands."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.errors import JunctionError
from hello_plugin import service

# An AppGroup runs its commands inside the application context.
hello_group = AppGroup("hello", help="Commands of the hello example plugin.")


@hello_group.command("greet")
@click.argument("name")
@click.option("--message", help="The greeting text (default: the hello.greeting setting).")
def greet(name: str, message: str | None) -> None:
    """Ask for a greeting for NAME, as POST /api/hello/greetings does."""
    try:
        greeting = service.create_greeting(name, message)
    except JunctionError as exc:  # the service's problem, told the CLI way
        raise click.ClickException(exc.detail) from exc
    click.echo(f"greeting {greeting.id}: {greeting.message}")
