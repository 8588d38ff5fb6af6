"""Execution of a run as a durable operation (kind ``agents.run``).

analysis → plan → ``plan_ready`` + ``approval_required`` → parked → execute steps →
``completion`` | ``failure`` | ``cancelled``.

Parking costs nothing: the operation ends once the plan and the deadline are stored on the
run. The decision (``POST /api/runs/{id}/approve``) submits the operation again, and the
``deadlines`` job times out runs whose deadline passed; no thread or process waits meanwhile,
so a restart of every process loses nothing.

Steps are the checkpoint: each is marked ``running`` (committed, fenced on the operation's
lease) before the team executes it and ``succeeded`` after. A runner that resumes a run skips
finished steps; a step it finds ``running`` was interrupted and runs again only when the team
declared it ``repeatable``, otherwise the run fails naming it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.operations import LeaseLost, OperationContext, runtime
from plugins.agents import events, metrics
from plugins.agents.models import (
    ACTIVE,
    ANALYSIS,
    AWAITING_APPROVAL,
    CANCELLED,
    COMPLETED,
    EXECUTING,
    FAILED,
    QUEUED,
    RUNNING,
    STEP_FAILED,
    STEP_RUNNING,
    STEP_SUCCEEDED,
    AgentRun,
    AgentRunStep,
    AgentTask,
)
from plugins.agents.runs import (
    PLAN,
    RUNS,
    append_log,
    deadline_for,
    finish_run,
    get_run,
    stage_of,
)
from plugins.agents.tasks import get_task, task_view
from plugins.agents.teams import (
    Step,
    StepCancelled,
    StepContext,
    StepFailed,
    get_team,
    validate_plan,
)

log = logging.getLogger(__name__)
STEPS = AgentRunStep.__table__


def run_operation(ctx: OperationContext) -> dict[str, Any]:
    """The ``agents.run`` handler: take the run from where it is to its next resting point."""
    run_id = int(ctx.params["run_id"])
    run = db.session.get(AgentRun, run_id, populate_existing=True)
    if run is None or run.status not in ACTIVE:
        return {"run_id": run_id, "status": run.status if run else "deleted"}
    task = get_task(run.task_id)
    if _cancel_requested(ctx, run_id):
        finish_run(run_id, CANCELLED, error="Cancelled on request.")
        return _outcome(run_id)
    if run.phase in (QUEUED, ANALYSIS) and not _analyse(ctx, run, task):
        return _outcome(run_id)
    if ctx.checkpoint.get("announced") is False and run.phase in (AWAITING_APPROVAL, EXECUTING):
        # Taken over from a runner that stopped between parking the run and announcing it.
        _announce(ctx, get_run(run_id), task)
        if get_run(run_id).phase == AWAITING_APPROVAL:
            return _outcome(run_id)
    run = get_run(run_id)
    # Exactly one operation executes the steps (see runs.stage_of): after a decision, the
    # planning operation resumed by a takeover leaves them to the one the decision submitted.
    stage = str(ctx.params.get("stage", PLAN))
    if run.phase == EXECUTING and run.status == RUNNING and stage == stage_of(run):
        _execute(ctx, run, task)
    return _outcome(run_id)


def _outcome(run_id: int) -> dict[str, Any]:
    run = get_run(run_id)
    return {"run_id": run_id, "status": run.status, "phase": run.phase}


def _cancel_requested(ctx: OperationContext, run_id: int) -> bool:
    """Whether the run or its operation was asked to stop (read fresh; raises LeaseLost)."""
    ctx.check_lease()
    with db.engine.connect() as connection:
        flag = connection.scalar(sa.select(RUNS.c.cancel_requested).where(RUNS.c.id == run_id))
    return bool(flag) or ctx.cancel_requested


def _analyse(ctx: OperationContext, run: AgentRun, task: AgentTask) -> bool:
    """Plan the run; park it for approval or go on. False when the run ended here."""
    now = runtime().now()
    first = run.phase == QUEUED
    db.session.execute(
        sa.update(RUNS)
        .where(RUNS.c.id == run.id, RUNS.c.status.in_(ACTIVE))
        .values(status=RUNNING, phase=ANALYSIS, started_at=run.started_at or now, updated_at=now)
    )
    ctx.save_checkpoint({"phase": ANALYSIS})
    if first:
        events.emit(
            "analysis_start",
            task.id,
            run.id,
            {"team": task.team, "run_number": run.run_number},
            f"Analysing task {task.name!r}",
            project=task.project,
        )
    try:
        team = get_team(task.team)
        steps = validate_plan(list(team.plan(task_view(task))))
    except LeaseLost:
        raise
    except Exception as exc:
        finish_run(run.id, FAILED, error=f"Planning failed: {_describe(exc)}")
        return False
    if not steps:
        finish_run(run.id, FAILED, error="The team planned no steps.")
        return False

    plan = {
        "team": task.team,
        "steps": [
            {"id": s.id, "title": s.title, "repeatable": s.repeatable, "spec": s.spec}
            for s in steps
        ],
    }
    db.session.execute(sa.delete(STEPS).where(STEPS.c.run_id == run.id))
    for position, step in enumerate(steps):
        db.session.add(
            AgentRunStep(
                run_id=run.id,
                position=position,
                step_id=step.id,
                title=step.title[:255],
                spec=step.spec,
                repeatable=step.repeatable,
            )
        )
    park = task.require_approval
    deadline = deadline_for(task) if park else None
    db.session.execute(
        sa.update(RUNS)
        .where(RUNS.c.id == run.id, RUNS.c.status == RUNNING, RUNS.c.phase == ANALYSIS)
        .values(
            plan=plan,
            phase=AWAITING_APPROVAL if park else EXECUTING,
            approval_deadline=deadline,
            updated_at=runtime().now(),
        )
    )
    # One commit, fenced on the lease: the steps, the plan and the phase land together. The
    # checkpoint remembers that the plan is not announced yet: a runner killed before the
    # events went out leaves that to the one that takes the operation over.
    phase = AWAITING_APPROVAL if park else EXECUTING
    ctx.save_checkpoint({"phase": phase, "announced": False})
    _announce(ctx, get_run(run.id), task)
    return not park


def _announce(ctx: OperationContext, run: AgentRun, task: AgentTask) -> None:
    """Publish ``plan_ready`` (and ``approval_required`` while the run awaits a decision),
    then record in the checkpoint that they went out (at least once)."""
    plan = run.plan or {}
    events.emit(
        "plan_ready",
        task.id,
        run.id,
        {"plan": plan},
        "Plan ready for review",
        project=task.project,
    )
    if run.phase == AWAITING_APPROVAL and run.approval_deadline is not None:
        events.emit(
            "approval_required",
            task.id,
            run.id,
            {
                "plan": plan,
                "deadline": run.approval_deadline.isoformat(),
                "timeout": task.approval_timeout,
            },
            "Approve or reject the plan: POST /api/runs/{run_id}/approve",
            project=task.project,
        )
    ctx.save_checkpoint({"phase": run.phase, "announced": True})


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {text}"[:2000]


def _execute(ctx: OperationContext, run: AgentRun, task: AgentTask) -> None:
    """Execute the run's steps in order from the first unfinished one."""
    team = get_team(task.team)
    view = task_view(task)
    steps = db.session.scalars(
        sa.select(AgentRunStep)
        .where(AgentRunStep.run_id == run.id)
        .order_by(AgentRunStep.position)
        .execution_options(populate_existing=True)
    ).all()
    total = len(steps)
    workdir = Path(tempfile.gettempdir()) / f"junction-agents-run-{run.id}"
    for index, row in enumerate(steps, start=1):
        if row.status == STEP_SUCCEEDED:
            continue
        if _cancel_requested(ctx, run.id):
            finish_run(run.id, CANCELLED, error="Cancelled on request.")
            return
        if row.status in (STEP_RUNNING, STEP_FAILED):
            if not row.repeatable:
                row.status = STEP_FAILED
                row.error = "interrupted; the team did not declare this step safe to repeat"
                ctx.save_checkpoint({"step": row.step_id, "state": STEP_FAILED})
                finish_run(
                    run.id,
                    FAILED,
                    error=f"Step {row.step_id!r} was interrupted and is not safe to repeat.",
                    event_data={"step_id": row.step_id},
                )
                return
            append_log(run, f"repeating interrupted step {row.step_id}", "info", row.step_id)
        row.status = STEP_RUNNING
        row.attempts += 1
        row.started_at = runtime().now()
        row.error = None
        ctx.save_checkpoint({"step": row.step_id, "state": STEP_RUNNING})
        step = Step(row.step_id, row.title, dict(row.spec or {}), row.repeatable)
        context = _context(ctx, run, task, step, view.project_dir, workdir)
        try:
            result = team.execute(step, context)
        except LeaseLost:
            raise
        except StepCancelled as exc:
            _step_failed(ctx, row, str(exc))
            finish_run(run.id, CANCELLED, error=str(exc), event_data={"step_id": step.id})
            return
        except Exception as exc:
            if isinstance(exc, LeaseLost):
                raise
            ctx.check_lease()
            _step_failed(ctx, row, _describe(exc))
            finish_run(
                run.id,
                FAILED,
                error=f"Step {step.id!r} failed: {_describe(exc)}",
                event_data={"step_id": step.id},
            )
            return
        row.status = STEP_SUCCEEDED
        row.result = result if isinstance(result, dict) else None
        row.finished_at = runtime().now()
        ctx.save_checkpoint({"step": row.step_id, "state": STEP_SUCCEEDED})
        percent = round(100.0 * index / total, 1)
        events.emit(
            "progress",
            task.id,
            run.id,
            {
                "step_id": step.id,
                "step": index,
                "total": total,
                "percent": percent,
                "title": step.title,
            },
            f"Step {index}/{total} done: {step.title}",
            project=task.project,
        )
        ctx.progress(index, total, step.title)
    metrics.record(task.id, run.id, "steps_completed", total, "count", commit=False)
    finish_run(run.id, COMPLETED, result={"steps": total}, message="Run completed")


def _step_failed(ctx: OperationContext, row: AgentRunStep, message: str) -> None:
    row.status = STEP_FAILED
    row.error = message[:2000]
    row.finished_at = runtime().now()
    ctx.save_checkpoint({"step": row.step_id, "state": STEP_FAILED})


def _context(
    ctx: OperationContext,
    run: AgentRun,
    task: AgentTask,
    step: Step,
    project_dir: Path | None,
    workdir: Path,
) -> StepContext:
    workdir.mkdir(parents=True, exist_ok=True)

    def log_line(line: str, stream: str = "info") -> None:
        append_log(run, str(line), stream, step.id)

    def metric(name: str, value: float, unit: str = "", **labels: Any) -> None:
        metrics.record(task.id, run.id, name, value, unit, {"step": step.id, **labels})

    def progress(message: str, percent: float | None = None) -> None:
        events.emit(
            "progress",
            task.id,
            run.id,
            {"step_id": step.id, "percent": percent, "message": message},
            message,
            project=task.project,
        )

    return StepContext(
        run_id=run.id,
        task_id=task.id,
        step=step,
        config=dict(task.config or {}),
        project_dir=project_dir,
        workdir=workdir,
        log=log_line,
        metric=metric,
        progress=progress,
        cancelled=lambda: _cancel_requested(ctx, run.id),
    )
