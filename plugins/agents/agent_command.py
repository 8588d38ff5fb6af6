"""The command a project's agent process runs: the setting ``agents.agent_command``, or
Junction's reference orchestrator.

Read by :mod:`plugins.agents.processes` (which records it when a start is asked for) and by
:mod:`plugins.agents.supervisor` (which runs it).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from app import settings
from plugins.agents.config import NAMESPACE


def default_command(project: str) -> list[str]:
    """Junction's reference orchestrator for ``project`` (the ``junction`` console script
    beside this interpreter)."""
    script = Path(sys.executable).with_name("junction")
    return [str(script), "agents", "orchestrate", project]


def command_for(project: str) -> list[str]:
    """The project's agent command (setting ``agents.agent_command``) as an argv.

    Split like a shell would but run without one: the pid we signal must be the agent
    itself, not a shell that would die of the SIGUSR1 meant for it.
    """
    configured = settings.get(NAMESPACE, "agent_command", project) or ""
    return shlex.split(configured) if configured.strip() else default_command(project)
