"""A plugin (``badtable``) whose model maps a table outside its namespace.

The model is declared when the blueprint hook imports its ``models`` module, as a real
plugin's routes import its models.
"""

from __future__ import annotations

from typing import Any

from app.hookspecs import hookimpl


@hookimpl
def junction_blueprints(app: Any) -> list[Any]:
    """No blueprint; importing the models is the point."""
    from tests.fixture_plugins.bad_table import models  # noqa: F401

    return []
