"""The agent-team interface: what a team is, what it gets, and the registry of installed teams.

A team plans a task into steps and executes one step at a time. Steps carry ids; the runner
records each step's state in the database, so a run resumes after a crash from its last
finished step and never starts a finished one again. A step interrupted mid-way is repeated
only when the team declared it ``repeatable``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jsonschema
from flask import Flask, current_app

from app.errors import ValidationFailed, field_error

log = logging.getLogger(__name__)

TEAM_NAME_MAX = 100


class StepFailed(Exception):
    """Raise from ``Team.execute`` when a step fails; the run ends ``failed`` with the message."""


class StepCancelled(Exception):
    """Raise from ``Team.execute`` when it noticed ``context.cancelled()``; the run is cancelled."""


@dataclass(frozen=True)
class Step:
    """One step of a plan: a stable id, a title, the team's own spec, and whether a step that
    was interrupted mid-way may run again (``repeatable``)."""

    id: str
    title: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    repeatable: bool = False


@dataclass(frozen=True)
class TaskView:
    """What a team sees of a task when it plans."""

    id: int
    name: str
    description: str
    config: dict[str, Any]
    max_rounds: int
    project: str | None
    project_dir: Path | None


@dataclass
class StepContext:
    """What a team gets while executing a step: where, and ways to report back.

    ``log(line, stream)`` appends to the run's log (and streams it), ``metric(name, value,
    unit, **labels)`` records a metric, ``progress(message, percent)`` publishes a ``progress``
    event, ``cancelled()`` says whether the run was cancelled (check it often in long steps).
    """

    run_id: int
    task_id: int
    step: Step
    config: dict[str, Any]
    project_dir: Path | None
    workdir: Path
    log: Callable[..., None]
    metric: Callable[..., None]
    progress: Callable[..., None]
    cancelled: Callable[[], bool]

    def raise_if_cancelled(self) -> None:
        """Raise :class:`StepCancelled` when the run was cancelled."""
        if self.cancelled():
            raise StepCancelled("the run was cancelled")


@runtime_checkable
class Team(Protocol):
    """An agent team (contributed through ``junction_agent_teams``)."""

    name: str
    description: str
    config_schema: dict[str, Any]

    def plan(self, task: TaskView) -> list[Step]:
        """The steps that carry out ``task`` (deterministic for the same task)."""
        ...

    def execute(self, step: Step, context: StepContext) -> dict[str, Any] | None:
        """Do ``step``; return a JSON-ready result, raise :class:`StepFailed` on failure."""
        ...


def collect_teams(app: Flask) -> dict[str, Team]:
    """Ask every plugin for its teams; store ``{name: team}`` on the app and return it."""
    state = app.extensions["junction"]
    teams: dict[str, Team] = {}
    for plugin, declared in state.registry.call_each("junction_agent_teams"):
        try:
            for team in declared:
                name = getattr(team, "name", None)
                if not isinstance(name, str) or not name or len(name) > TEAM_NAME_MAX:
                    raise ValueError(f"team {team!r} has no valid name")
                if not isinstance(team, Team):
                    raise TypeError(f"team {name!r} lacks plan/execute/config_schema")
                jsonschema.Draft202012Validator.check_schema(team.config_schema)
                if name in teams:
                    log.error("plugin %s: agent team %r is already taken", plugin, name)
                    continue
                teams[name] = team
        except Exception as exc:  # a broken team must not take the app down
            state.registry.mark_failed(plugin, exc, "declaring agent teams")
    app.extensions["junction_agents_teams"] = teams
    return teams


def teams(app: Flask | None = None) -> dict[str, Team]:
    """The installed teams ``{name: team}``."""
    target = app or current_app
    found = target.extensions.get("junction_agents_teams")
    return found if found is not None else collect_teams(target)


def get_team(name: str, field_name: str = "team") -> Team:
    """The team ``name`` or a 422 naming the installed ones."""
    found = teams().get(name)
    if found is None:
        known = ", ".join(sorted(teams())) or "none"
        raise ValidationFailed(
            f"Unknown agent team {name!r}; installed teams: {known}.",
            errors=[field_error(field_name, f"Installed teams: {known}.", "unknown")],
        )
    return found


def validate_config(team: Team, config: dict[str, Any]) -> None:
    """422 unless ``config`` satisfies the team's schema (every error listed by field)."""
    validator = jsonschema.Draft202012Validator(team.config_schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        fields = [
            field_error(
                "config" + "".join(f".{p}" for p in error.absolute_path),
                error.message[:300],
                str(error.validator),
            )
            for error in errors[:20]
        ]
        raise ValidationFailed(
            f"config does not fit team {team.name!r}: {fields[0]['message']}", errors=fields
        )


def validate_plan(steps: list[Step]) -> list[Step]:
    """Check a plan: a list of :class:`Step` with unique, non-empty ids."""
    seen: set[str] = set()
    for step in steps:
        if not isinstance(step, Step) or not step.id or len(step.id) > 100:
            raise StepFailed(f"the team planned an invalid step: {step!r}")
        if step.id in seen:
            raise StepFailed(f"the team planned step id {step.id!r} twice")
        seen.add(step.id)
    return steps
