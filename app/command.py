"""The ``junction`` console script: Flask's CLI around :func:`~app.create_app`, with the
commands of the app's ``junction`` group (see :mod:`app.cli`) at the top level.

The outermost layer of the core: it imports the app factory, and nothing in ``app`` imports it
(the entry point ``junction = "app.command:main"`` loads it).
"""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, NoAppException, ScriptInfo

from app import create_app
from app.state import current_app_object


class JunctionCLI(FlaskGroup):
    """The ``junction`` command: Flask's CLI with the app's ``junction`` group at the top level.

    A name is looked up in the ``junction`` group first (so ``junction db`` is Junction's
    ``db``, which upgrades every plugin branch, not Flask-Migrate's), then as a Flask command.
    """

    def __init__(self, **extra: Any) -> None:
        super().__init__(
            create_app=lambda: create_app(),
            add_version_option=False,
            help="Junction operator commands (the app is built from the JUNCTION_* environment "
            "and instance/junction.toml).",
            **extra,
        )

    def _junction_group(self, ctx: click.Context) -> click.Group | None:
        info = ctx.ensure_object(ScriptInfo)
        try:
            app = info.load_app()
        except NoAppException:
            return None  # FlaskGroup reports the error when the command is looked up there
        if not current_app or current_app_object() is not app:
            ctx.with_resource(app.app_context())
        group = app.cli.commands.get("junction")
        return group if isinstance(group, click.Group) else None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The ``junction`` group's command ``name``, else Flask's (``run``, ``shell``...)."""
        group = self._junction_group(ctx)
        command = group.get_command(ctx, name) if group is not None else None
        return command or super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Junction's commands and Flask's, without the ``junction`` group itself."""
        names = set(super().list_commands(ctx))
        group = self._junction_group(ctx)
        if group is not None:
            names.discard("junction")
            names.update(group.list_commands(ctx))
        return sorted(names)


def main() -> None:
    """Entry point of the ``junction`` console script."""
    JunctionCLI(name="junction").main(prog_name="junction")
