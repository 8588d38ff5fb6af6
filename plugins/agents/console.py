"""The agents panel of the web console (``/console/agents/``).

The tasks with their run counts and success rate; the newest runs, live (the page follows
``agents``, where every run event is published, and ``operations``, where an agent process's
operation starting or ending shows); the runs awaiting approval with their plan, deadline and
**Approve** / **Reject**; each project's agent process with its status and **Start**,
**Soft stop** and **Stop**. ``?run=<id>`` adds one run's page: its steps, the tail of its log
and the metric summaries of the run and of its task; that page also follows ``agents:run:<id>``,
where log lines are published. The actions call the same services as the API
(``runs.approve`` keeps a decision exactly-once; a second click gets its 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import request

from app.db import db
from app.domain.models import Project
from app.errors import JunctionError, ValidationFailed, field_error
from plugins.agents import events, metrics, processes, runs
from plugins.agents.models import (
    AWAITING_APPROVAL,
    P_FINISHING,
    P_RUNNING,
    P_STARTING,
    P_STOPPED,
    RUNNING,
    AgentMetric,
    AgentProcess,
    AgentRun,
    AgentRunLog,
    AgentRunStep,
    AgentTask,
)
from plugins.agents.tasks import get_task, list_tasks

CHANNELS = (events.ALL_CHANNEL, "operations")
TASKS_SHOWN = 25
RUNS_SHOWN = 25
AWAITING_SHOWN = 20
LOG_TAIL = 50
PROJECTS_SHOWN = 50
FEEDBACK_MAX = 2000
STATUS_CLASS = {
    "pending": "pending",
    "running": "running",
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "timeout": "failed",
}


def _task_row(task: AgentTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "team": task.team,
        "project": task.project,
        "status": task.status,
        "status_class": STATUS_CLASS.get(task.status, "pending"),
        "total_runs": task.total_runs,
        "successful_runs": task.successful_runs,
        "failed_runs": task.failed_runs,
        "success_rate": task.success_rate,
        "require_approval": task.require_approval,
    }


def _run_row(run: AgentRun, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "id": run.id,
        "task_id": run.task_id,
        "task_name": names.get(run.task_id, f"task {run.task_id}"),
        "run_number": run.run_number,
        "status": run.status,
        "status_class": STATUS_CLASS.get(run.status, "pending"),
        "phase": run.phase,
        "awaiting": run.status == RUNNING and run.phase == AWAITING_APPROVAL,
        "error": run.error,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration": run.duration,
        "updated_at": run.updated_at,
    }


def _plan_steps(run: AgentRun) -> list[dict[str, Any]]:
    """The plan's steps as stored on the run (id, title, whether safe to repeat)."""
    steps = (run.plan or {}).get("steps") if isinstance(run.plan, dict) else None
    return [
        {
            "id": str(s.get("id", "")),
            "title": str(s.get("title", "")),
            "repeatable": bool(s.get("repeatable")),
        }
        for s in (steps or [])
        if isinstance(s, dict)
    ]


def _task_names(task_ids: set[int]) -> dict[int, str]:
    if not task_ids:
        return {}
    rows = db.session.execute(
        sa.select(AgentTask.id, AgentTask.name).where(AgentTask.id.in_(task_ids))
    )
    return {task_id: name for task_id, name in rows}


def _awaiting() -> list[dict[str, Any]]:
    """Runs parked for a decision, oldest first (the one closest to its deadline on top)."""
    rows = list(
        db.session.scalars(
            sa.select(AgentRun)
            .where(AgentRun.status == RUNNING, AgentRun.phase == AWAITING_APPROVAL)
            .order_by(AgentRun.approval_deadline.asc().nulls_last(), AgentRun.id)
            .limit(AWAITING_SHOWN)
            .execution_options(populate_existing=True)
        )
    )
    names = _task_names({r.task_id for r in rows})
    return [
        {**_run_row(r, names), "deadline": r.approval_deadline, "steps": _plan_steps(r)}
        for r in rows
    ]


def _processes() -> list[dict[str, Any]]:
    """Every registered project with its agent process (stopped when it never had one).

    Read only: a project without a process row is shown stopped rather than given a row on a
    page view.
    """
    names = list(
        db.session.scalars(sa.select(Project.name).order_by(Project.name).limit(PROJECTS_SHOWN))
    )
    rows = {
        row.project: row
        for row in db.session.scalars(
            sa.select(AgentProcess)
            .where(AgentProcess.project.in_(names))
            .execution_options(populate_existing=True)
        )
    }
    shown = []
    for name in names:
        row = rows.get(name)
        status = row.status if row is not None else P_STOPPED
        shown.append(
            {
                "project": name,
                "status": status,
                "view": processes.view(row) if row is not None else None,
                "can_start": status == P_STOPPED,
                "can_soft_stop": status in (P_STARTING, P_RUNNING),
                "can_stop": status != P_STOPPED,
                "finishing": status == P_FINISHING,
            }
        )
    return shown


def _parse_id(raw: str | None, field: str) -> int:
    """A positive integer id from a form or query value, else a 422 naming the field."""
    text = (raw or "").strip()
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise ValidationFailed(
            f"{field} must be a positive whole number.",
            errors=[field_error(field, "Not a positive whole number.")],
        )
    return int(text)


def _run_detail(raw: str) -> dict[str, Any]:
    """One run: its row, plan steps with their state, the log's tail and metric summaries."""
    try:
        run = runs.get_run(_parse_id(raw, "run"))
    except JunctionError as exc:
        return {"missing": exc.detail}
    task = get_task(run.task_id)
    steps = list(
        db.session.scalars(
            sa.select(AgentRunStep)
            .where(AgentRunStep.run_id == run.id)
            .order_by(AgentRunStep.position)
        )
    )
    tail = list(
        db.session.scalars(
            sa.select(AgentRunLog)
            .where(AgentRunLog.run_id == run.id)
            .order_by(AgentRunLog.id.desc())
            .limit(LOG_TAIL)
        )
    )
    tail.reverse()
    log_total = db.session.scalar(
        sa.select(sa.func.count()).select_from(AgentRunLog).where(AgentRunLog.run_id == run.id)
    )
    return {
        "run": {
            **_run_row(run, {task.id: task.name}),
            "deadline": run.approval_deadline,
            "feedback": run.feedback,
            "approved": run.approved,
            "decided_at": run.decided_at,
            "plan_steps": _plan_steps(run),
        },
        "task": _task_row(task),
        "steps": [
            {
                "id": s.step_id,
                "title": s.title,
                "status": s.status,
                "attempts": s.attempts,
                "error": s.error,
            }
            for s in steps
        ],
        "log": [
            {"id": line.id, "stream": line.stream, "step_id": line.step_id, "line": line.line}
            for line in tail
        ],
        "log_total": int(log_total or 0),
        "run_metrics": metrics.summary(AgentMetric.run_id, run.id),
        "task_metrics": metrics.summary(AgentMetric.task_id, task.id),
    }


def panel_context() -> dict[str, Any]:
    """Tasks, runs, runs awaiting approval, agent processes and the picked run, for the
    template."""
    tasks_page = list_tasks({}, TASKS_SHOWN, 0)
    runs_page = runs.list_runs({}, RUNS_SHOWN, 0)
    recent_runs = list(runs_page["items"])
    names = {t.id: t.name for t in tasks_page["items"]}
    names.update(_task_names({r.task_id for r in recent_runs} - set(names)))
    picked = request.args.get("run")
    detail = _run_detail(picked) if picked else None
    follow: list[str] = []
    if detail and "run" in detail:
        follow.append(events.run_channel(detail["run"]["id"]))
    return {
        "tasks": [_task_row(t) for t in tasks_page["items"]],
        "tasks_total": tasks_page.get("total", len(tasks_page["items"])),
        "runs": [_run_row(r, names) for r in recent_runs],
        "runs_total": runs_page.get("total", len(recent_runs)),
        "awaiting": _awaiting(),
        "processes": _processes(),
        "detail": detail,
        "picked": picked,
        "log_tail": LOG_TAIL,
        "console_channels": follow,
    }


# -- actions ------------------------------------------------------------------------------------


def _feedback(form: Mapping[str, str]) -> str | None:
    text = (form.get("feedback") or "").strip()
    if len(text) > FEEDBACK_MAX:
        raise ValidationFailed(
            f"Feedback is limited to {FEEDBACK_MAX} characters.",
            errors=[field_error("feedback", f"Longer than {FEEDBACK_MAX} characters.")],
        )
    return text or None


def approve(form: Mapping[str, str]) -> str:
    """Approve a run's plan (the same service as ``POST /api/runs/{id}/approve``)."""
    run = runs.approve(_parse_id(form.get("run_id"), "run_id"), True, _feedback(form))
    return f"Run {run.id} approved: its plan is executing."


def reject(form: Mapping[str, str]) -> str:
    """Reject a run's plan; the run ends ``cancelled`` (``approved: false`` on the API)."""
    run = runs.approve(_parse_id(form.get("run_id"), "run_id"), False, _feedback(form))
    return f"Run {run.id} rejected: it ended {run.status}."


def _project(form: Mapping[str, str]) -> str:
    name = (form.get("project") or "").strip()
    if not name:
        raise ValidationFailed(
            "Name the project whose agent to control.",
            errors=[field_error("project", "Missing.")],
        )
    return name


def start(form: Mapping[str, str]) -> str:
    """Start the project's agent process (``POST /api/projects/{name}/agent/start``)."""
    name = _project(form)
    answer = processes.start(name)
    return f"The agent of {name} is {answer['status']}."


def soft_stop(form: Mapping[str, str]) -> str:
    """Soft-stop it: claim nothing new, finish the current work, exit (``.../soft-stop``)."""
    name = _project(form)
    answer = processes.soft_stop(name)
    return f"{answer['message']} ({name})."


def stop(form: Mapping[str, str]) -> str:
    """Hard-stop it from any state: SIGTERM, then SIGKILL after the grace period."""
    name = _project(form)
    answer = processes.stop(name)
    return f"The agent of {name} is {answer['status']}: {answer['message']}."
