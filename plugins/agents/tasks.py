"""Agent tasks: create, read, update, delete, list with filters (no Flask request here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.api import paginate
from app.db import db
from app.domain import require_project
from app.errors import Conflict, NotFound
from plugins.agents.models import ACTIVE, AgentRun, AgentTask
from plugins.agents.teams import TaskView, get_team, validate_config

DEFAULT_TEAM = "echo"


def get_task(task_id: int) -> AgentTask:
    """The task ``task_id`` or 404."""
    task = db.session.get(AgentTask, task_id, populate_existing=True)
    if task is None:
        raise NotFound(f"No task with id {task_id}.")
    return task


def list_tasks(filters: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    """A page of tasks, newest first, filtered by ``status``, ``team`` and ``project``."""
    query = sa.select(AgentTask)
    for name in ("status", "team", "project"):
        if filters.get(name) is not None:
            query = query.where(getattr(AgentTask, name) == filters[name])
    query = query.order_by(AgentTask.id.desc())
    return paginate(query, limit, offset)


def _check(team_name: str, config: dict[str, Any], project: str | None) -> None:
    team = get_team(team_name)
    validate_config(team, config)
    if project is not None:
        require_project(project, field="project")


def create_task(data: dict[str, Any]) -> AgentTask:
    """Create a task after checking its team, the team's config and its project."""
    data = dict(data)
    data.setdefault("team", DEFAULT_TEAM)
    data.setdefault("config", {})
    _check(data["team"], data["config"], data.get("project"))
    task = AgentTask(**data)
    db.session.add(task)
    db.session.commit()
    return task


def update_task(task_id: int, changes: dict[str, Any]) -> AgentTask:
    """Change a task; team, config and project are checked together."""
    task = get_task(task_id)
    team = changes.get("team", task.team)
    config = changes.get("config", task.config)
    project = changes.get("project", task.project)
    _check(team, config, project)
    for name, value in changes.items():
        setattr(task, name, value)
    db.session.commit()
    return task


def active_run_count(task_id: int) -> int:
    """How many runs of the task are pending or running."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AgentRun)
            .where(AgentRun.task_id == task_id, AgentRun.status.in_(ACTIVE))
        )
        or 0
    )


def delete_task(task_id: int) -> None:
    """Delete a task with its runs and metrics; 409 while one of its runs is active."""
    task = get_task(task_id)
    active = active_run_count(task_id)
    if active:
        raise Conflict(
            f"Task {task_id} has {active} active run(s); cancel them first "
            "(PATCH /api/runs/{run_id} with status cancelled).",
            code="TASK_HAS_ACTIVE_RUNS",
        )
    db.session.delete(task)
    db.session.commit()


def task_view(task: AgentTask) -> TaskView:
    """What a team sees of ``task`` (with its project's directory)."""
    project_dir = None
    if task.project:
        project_dir = Path(require_project(task.project, field="project").path)
    return TaskView(
        id=task.id,
        name=task.name,
        description=task.description,
        config=dict(task.config or {}),
        max_rounds=task.max_rounds,
        project=task.project,
        project_dir=project_dir,
    )
