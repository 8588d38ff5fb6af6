"""``junction ...``: operator commands of the core, plus plugin commands.

The ``junction`` console script (``[project.scripts]``) is :func:`main`: a ``FlaskGroup`` that
builds the app with :func:`app.create_app` and serves the commands of the app's ``junction``
group at its top level (``junction db upgrade``, ``junction worker``, ``junction plugins``,
``junction planning cycles``), beside Flask's own ``run``, ``shell`` and ``routes``. The same
commands stay reachable as ``flask --app wsgi junction ...``.

Every group here is a :class:`~app.cli_errors.JunctionGroup`: a failing command prints one JSON
problem document on stderr and exits 1 (usage errors: click's usage text, exit 2).
"""

from __future__ import annotations

import json
import sys

import click
from flask import Flask, current_app

from app.cli_errors import JunctionGroup
from app.config import ENV_PREFIX, KEYS, config_name


def register_cli(app: Flask) -> None:
    """Create the ``junction`` group on ``app`` and let plugins add to it."""
    group = JunctionGroup("junction", help="Junction operator commands.")

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

    db_group = JunctionGroup("db", help="Database schema (every plugin branch included).")

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
    group.add_command(secrets_group())
    from app.operations.cli import operations_group

    group.add_command(operations_group)
    from app.scheduler import register_cli as register_scheduler_cli

    register_scheduler_cli(group)
    app.cli.add_command(group)
    # As FlaskBB's ``flaskbb_cli(cli, app)``: plugins add their groups to the ``junction``
    # group, so ``junction planning ...`` and ``flask --app wsgi junction planning ...`` reach them.
    app.extensions["junction"].registry.call_each("junction_cli", cli=group, app=app)


def secrets_group() -> JunctionGroup:
    """``junction secrets ...``: stored secrets and their encryption keys."""
    secrets = JunctionGroup("secrets", help="Secret settings at rest (encryption keys).")

    @secrets.command("rotate")
    def rotate_command() -> None:
        """Re-encrypt every stored secret with the current JUNCTION_SECRET_KEY.

        Run after moving the old key to JUNCTION_SECRET_KEY_FALLBACKS; remove the fallbacks
        once it reports no secret left on them. Prints a JSON summary; exit 1 when a secret
        could not be decrypted with any configured key.
        """
        from app.errors import JunctionError
        from app.settings import rotate_secrets

        result = rotate_secrets()
        click.echo(json.dumps(result))
        if result["unreadable"]:
            raise JunctionError(
                f"{len(result['unreadable'])} secret(s) cannot be decrypted with any configured "
                f"key ({', '.join(result['unreadable'][:10])}): add the key they were stored "
                "with to JUNCTION_SECRET_KEY_FALLBACKS and run this again, or set them again.",
                status=409,
                code="SECRET_UNREADABLE",
            )

    return secrets


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
