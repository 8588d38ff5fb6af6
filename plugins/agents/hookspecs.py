"""The hook the ``agents`` plugin adds for plugins that contribute agent teams.

Added to Junction's plugin manager through ``junction_addhooks``; see ``docs/agents.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.hookspecs import hookspec


@hookspec
def junction_agent_teams() -> Iterable[Any] | None:
    """Agent teams this plugin contributes.

    **Returns:** an iterable of team objects (see :class:`plugins.agents.teams.Team`): each has
    a ``name`` (unique across plugins), a ``description``, a ``config_schema`` (JSON Schema of
    a task's ``config``), ``plan(task) -> list[Step]`` and ``execute(step, context) -> dict |
    None``. The first team registered under a name wins; later ones are logged and ignored.
    """
