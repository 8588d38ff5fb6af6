"""Agent runs: create (which starts execution), read, list, approve, cancel, delete, logs.

Every state change is a compare-and-set ``UPDATE`` on the run's row (status and phase in the
``WHERE``), so a decision, a deadline, a cancel and the executing runner can race across
workers and hosts and exactly one of them wins; the losers see the new state and answer 409.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from app import operations as ops
from app.api import paginate
from app.db import db, rowcount
from app.errors import Conflict, NotFound
from app.operations import runtime
from plugins.agents import events, metrics
from plugins.agents.models import (
    ACTIVE,
    AWAITING_APPROVAL,
    CANCELLED,
    COMPLETED,
    DONE,
    EXECUTING,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    TIMEOUT,
    AgentRun,
    AgentRunLog,
    AgentTask,
)
from plugins.agents.tasks import get_task

log = logging.getLogger(__name__)

KIND = "agents.run"
RESUBMIT_AFTER = 10.0  # seconds a run may wait for its operation to be submitted
RUNS = AgentRun.__table__
TASKS = AgentTask.__table__


PLAN, EXECUTE = "plan", "execute"


def dedupe_key(run_id: int, stage: str) -> str:
    """The operation dedupe key of a run's stage: at most one unfinished operation each.

    Planning and (approved) execution are separate keys: the planning operation may still be
    recording its success when the decision arrives, and must not absorb the execution.
    """
    return f"agents:run:{run_id}:{stage}"


def stage_of(run: AgentRun) -> str:
    """Which stage's operation executes the run's steps: the planning one when no decision was
    involved (approval opted out), else the one the approval submitted."""
    return EXECUTE if run.approved else PLAN


def get_run(run_id: int) -> AgentRun:
    """The run ``run_id`` as stored now, or 404."""
    run = db.session.get(AgentRun, run_id, populate_existing=True)
    if run is None:
        raise NotFound(f"No run with id {run_id}.")
    return run


def list_runs(filters: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    """A page of runs, newest first, filtered by ``task_id``, ``status`` and ``phase``."""
    query = sa.select(AgentRun)
    for name in ("task_id", "status", "phase"):
        if filters.get(name) is not None:
            query = query.where(getattr(AgentRun, name) == filters[name])
    return paginate(
        query.order_by(AgentRun.id.desc()).execution_options(populate_existing=True),
        limit,
        offset,
    )


def create_run(task_id: int) -> AgentRun:
    """Create a run of ``task_id`` and submit its execution (a durable operation)."""
    task = get_task(task_id)
    db.session.execute(
        sa.update(TASKS)
        .where(TASKS.c.id == task.id)
        .values(total_runs=TASKS.c.total_runs + 1, status=RUNNING, updated_at=runtime().now())
    )
    number = db.session.scalar(sa.select(TASKS.c.total_runs).where(TASKS.c.id == task.id))
    run = AgentRun(task_id=task.id, run_number=int(number or 1), status=RUNNING, phase=QUEUED)
    db.session.add(run)
    db.session.commit()
    start_execution(run.id, task.project, PLAN)
    return get_run(run.id)


def start_execution(run_id: int, project: str | None, stage: str) -> None:
    """Submit (or find) the operation of the run's ``stage`` and remember its id on the run."""
    operation = ops.submit(
        KIND,
        {"run_id": run_id, "stage": stage},
        project=project,
        dedupe_key=dedupe_key(run_id, stage),
    )
    db.session.execute(sa.update(RUNS).where(RUNS.c.id == run_id).values(operation_id=operation.id))
    db.session.commit()


# -- transitions ---------------------------------------------------------------------------------


def finish_run(
    run_id: int,
    status: str,
    *,
    phases: tuple[str, ...] | None = None,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    event: str | None = None,
    event_data: dict[str, Any] | None = None,
    message: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """End an active run with ``status`` (only from ``phases`` when given); True if this call
    did it. Updates the task's counters, records the run's duration and outcome, publishes
    ``event`` (default: the status's own event)."""
    now = runtime().now()
    where = [RUNS.c.id == run_id, RUNS.c.status.in_(ACTIVE)]
    if phases is not None:
        where.append(RUNS.c.phase.in_(phases))
    values = {
        "status": status,
        "phase": DONE,
        "finished_at": now,
        "updated_at": now,
        "error": error,
        "result": result,
        **(extra or {}),
    }
    done = rowcount(db.session.execute(sa.update(RUNS).where(*where).values(**values)))
    if done != 1:
        db.session.rollback()
        return False
    run = get_run(run_id)
    counters: dict[str, Any] = {"status": status, "updated_at": now}
    if status == COMPLETED:
        counters["successful_runs"] = TASKS.c.successful_runs + 1
    elif status in (FAILED, TIMEOUT):
        counters["failed_runs"] = TASKS.c.failed_runs + 1
    db.session.execute(sa.update(TASKS).where(TASKS.c.id == run.task_id).values(**counters))
    started = run.started_at or run.created_at
    duration = max(0.0, (now - started).total_seconds())
    metrics.record(run.task_id, run.id, "run_duration", duration, "s", commit=False)
    metrics.record(
        run.task_id,
        run.id,
        "run_succeeded",
        1 if status == COMPLETED else 0,
        "",
        {"status": status},
        commit=False,
    )
    db.session.commit()
    task = get_task(run.task_id)
    kind = event or {COMPLETED: "completion", CANCELLED: "cancelled"}.get(status, "failure")
    data = {"status": status, "duration": round(duration, 3), **(event_data or {})}
    if error:
        data["error"] = error
    if result is not None:
        data["result"] = result
    events.emit(kind, run.task_id, run.id, data, message or error, project=task.project)
    return True


def _current_state_conflict(run: AgentRun, action: str) -> Conflict:
    return Conflict(
        f"Run {run.id} is {run.status} ({run.phase}); it cannot be {action} now.",
        code="RUN_NOT_AWAITING_APPROVAL" if action == "approved or rejected" else "RUN_STATE",
        run_status=run.status,
        phase=run.phase,
    )


def approve(run_id: int, approved: bool, feedback: str | None) -> AgentRun:
    """Record the decision on a run awaiting approval, exactly once; resume or end the run.

    409 when the run does not await approval (including a second decision and a passed
    deadline, which times the run out first).
    """
    run = get_run(run_id)
    now = runtime().now()
    if run.phase == AWAITING_APPROVAL and run.status == RUNNING:
        deadline = run.approval_deadline
        if deadline is not None and deadline <= now:
            expire_run(run_id)
            raise _current_state_conflict(get_run(run_id), "approved or rejected")
    task = get_task(run.task_id)
    decision = {"approved": approved, "feedback": feedback, "decided_at": now}
    if approved:
        done = rowcount(
            db.session.execute(
                sa.update(RUNS)
                .where(
                    RUNS.c.id == run_id,
                    RUNS.c.status == RUNNING,
                    RUNS.c.phase == AWAITING_APPROVAL,
                )
                # The planning operation is finished: forget it in the same write, so the
                # orphan sweep never mistakes the approved run for one whose execution died.
                .values(phase=EXECUTING, updated_at=now, operation_id=None, **decision)
            )
        )
        db.session.commit()
        if done != 1:
            raise _current_state_conflict(get_run(run_id), "approved or rejected")
        events.emit(
            "approved",
            run.task_id,
            run_id,
            {"feedback": feedback},
            "Plan approved",
            project=task.project,
        )
        start_execution(run_id, task.project, EXECUTE)
        return get_run(run_id)
    rejected = finish_run(
        run_id,
        CANCELLED,
        phases=(AWAITING_APPROVAL,),
        event="rejected",
        event_data={"feedback": feedback},
        message="Plan rejected",
        extra=decision,
    )
    if not rejected:
        raise _current_state_conflict(get_run(run_id), "approved or rejected")
    return get_run(run_id)


def expire_run(run_id: int) -> bool:
    """Time out a run whose approval deadline passed; True if this call did it."""
    return finish_run(
        run_id,
        TIMEOUT,
        phases=(AWAITING_APPROVAL,),
        error="No approval decision before the deadline.",
        event="failure",
        event_data={"reason": "approval_timeout"},
    )


def expire_overdue(limit: int = 100) -> int:
    """Time out every run whose approval deadline passed (the ``deadlines`` job)."""
    now = runtime().now()
    overdue = db.session.scalars(
        sa.select(RUNS.c.id)
        .where(
            RUNS.c.phase == AWAITING_APPROVAL,
            RUNS.c.status == RUNNING,
            RUNS.c.approval_deadline <= now,
        )
        .order_by(RUNS.c.approval_deadline)
        .limit(limit)
    ).all()
    db.session.rollback()
    return sum(1 for run_id in overdue if expire_run(run_id))


def reconcile_orphans(limit: int = 100) -> int:
    """Fail active runs whose operation ended without finishing them (a handler crash), and
    submit the execution of runs that have none (their request died half-way)."""
    from app.operations.models import FINISHED as OP_FINISHED
    from app.operations.models import Operation

    orphans = db.session.execute(
        sa.select(RUNS.c.id, Operation.status, Operation.error)
        .join(Operation, Operation.id == RUNS.c.operation_id)
        .where(
            RUNS.c.status.in_(ACTIVE),
            RUNS.c.phase != AWAITING_APPROVAL,
            Operation.status.in_(OP_FINISHED),
        )
        .limit(limit)
    ).all()
    stale = runtime().now() - dt.timedelta(seconds=RESUBMIT_AFTER)
    unsubmitted = db.session.execute(
        sa.select(RUNS.c.id, TASKS.c.project, RUNS.c.approved)
        .join(TASKS, TASKS.c.id == RUNS.c.task_id)
        .where(
            RUNS.c.status.in_(ACTIVE),
            RUNS.c.phase.in_((QUEUED, EXECUTING)),
            RUNS.c.operation_id.is_(None),
            RUNS.c.updated_at < stale,
        )
        .limit(limit)
    ).all()
    db.session.rollback()
    count = 0
    for run_id, project, approved in unsubmitted:
        # The request that created or approved it died before submitting its execution.
        start_execution(run_id, project, EXECUTE if approved else PLAN)
        count += 1
    for run_id, op_status, op_error in orphans:
        message = (op_error or {}).get("message") or f"its operation ended {op_status}"
        status = CANCELLED if op_status == "cancelled" else FAILED
        phases = (QUEUED, "analysis", EXECUTING)
        if finish_run(run_id, status, phases=phases, error=f"Execution stopped: {message}"):
            count += 1
    return count


def cancel_run(run_id: int, reason: str | None = None) -> AgentRun:
    """Cancel a run: at once when nothing executes it, else ask its runner to stop."""
    run = get_run(run_id)
    if run.status in FINISHED:
        raise Conflict(
            f"Run {run_id} already ended {run.status}; nothing to cancel.",
            code="RUN_FINISHED",
            run_status=run.status,
        )
    message = reason or "Cancelled on request."
    if run.phase == AWAITING_APPROVAL and finish_run(
        run_id, CANCELLED, phases=(AWAITING_APPROVAL,), error=message
    ):
        return get_run(run_id)
    db.session.execute(
        sa.update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status.in_(ACTIVE))
        .values(cancel_requested=True, updated_at=runtime().now())
    )
    db.session.commit()
    run = get_run(run_id)
    if run.operation_id:
        try:
            operation = ops.cancel_operation(run.operation_id, reason=message)
        except Conflict:
            operation = None  # already finished: the run's own state decides
        if operation is not None and operation.status == "cancelled":
            # Nobody executes it (it was pending): end the run here.
            finish_run(run_id, CANCELLED, phases=(QUEUED, "analysis", EXECUTING), error=message)
    return get_run(run_id)


def delete_run(run_id: int) -> None:
    """Delete a finished run with its steps, logs and metrics; 409 while it is active."""
    run = get_run(run_id)
    if run.status in ACTIVE:
        raise Conflict(
            f"Run {run_id} is {run.status}; cancel it before deleting it.",
            code="RUN_ACTIVE",
            run_status=run.status,
        )
    db.session.delete(run)
    db.session.commit()


# -- logs ------------------------------------------------------------------------------------------


def append_log(run: AgentRun, line: str, stream: str = "info", step_id: str | None = None) -> None:
    """Append a line to the run's log and publish it on the run's channel."""
    db.session.add(
        AgentRunLog(
            run_id=run.id, step_id=step_id, stream=stream, line=line, created_at=runtime().now()
        )
    )
    db.session.commit()
    events.emit_log(run.task_id, run.id, line, stream, step_id)


def list_logs(run_id: int, after: int, limit: int, offset: int) -> dict[str, Any]:
    """A page of the run's log lines with an id greater than ``after``, oldest first."""
    get_run(run_id)
    query = (
        sa.select(AgentRunLog)
        .where(AgentRunLog.run_id == run_id, AgentRunLog.id > after)
        .order_by(AgentRunLog.id)
    )
    page = paginate(query, limit, offset)
    page["run_id"] = run_id
    page["last_id"] = page["items"][-1].id if page["items"] else after
    return page


def deadline_for(task: AgentTask) -> dt.datetime:
    """When approval of a run of ``task`` planned now times out."""
    return runtime().now() + dt.timedelta(seconds=float(task.approval_timeout))
