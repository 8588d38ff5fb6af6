"""Tables of the agents plugin (prefix ``agents_``): tasks, runs, their steps, logs, metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model, TimestampMixin, UTCDateTime

# The seed's statuses (tasks and runs share them).
PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT = (
    "pending",
    "running",
    "completed",
    "failed",
    "cancelled",
    "timeout",
)
STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT)
ACTIVE = (PENDING, RUNNING)
FINISHED = (COMPLETED, FAILED, CANCELLED, TIMEOUT)

# Where a run is inside ``running`` (an addition to the seed: its statuses stay the contract).
QUEUED, ANALYSIS, AWAITING_APPROVAL, EXECUTING, DONE = (
    "queued",
    "analysis",
    "awaiting_approval",
    "executing",
    "done",
)
PHASES = (QUEUED, ANALYSIS, AWAITING_APPROVAL, EXECUTING, DONE)

# Step states: a step marked ``running`` whose run resumes was interrupted mid-way.
STEP_PENDING, STEP_RUNNING, STEP_SUCCEEDED, STEP_FAILED = (
    "pending",
    "running",
    "succeeded",
    "failed",
)


class AgentTask(TimestampMixin, Model):
    """A task: what to do (team and its config), for which project, and how to approve it."""

    __tablename__ = "agents_tasks"
    __table_args__ = (sa.Index("ix_agents_tasks_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    team: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    max_rounds: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=5)
    project: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    require_approval: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    approval_timeout: Mapped[float] = mapped_column(sa.Float, nullable=False, default=300.0)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=PENDING)
    total_runs: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    successful_runs: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    failed_runs: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)

    @property
    def success_rate(self) -> float:
        """Completed runs over finished runs, in percent (0 before any finished)."""
        finished = self.successful_runs + self.failed_runs
        return round(100.0 * self.successful_runs / finished, 2) if finished else 0.0


class AgentRun(TimestampMixin, Model):
    """One execution of a task: its plan, the approval decision, where it got to."""

    __tablename__ = "agents_runs"
    __table_args__ = (
        sa.Index("ix_agents_runs_task_id", "task_id"),
        sa.Index("ix_agents_runs_status", "status"),
        sa.Index("ix_agents_runs_phase_deadline", "phase", "approval_deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agents_tasks.id", ondelete="CASCADE"), nullable=False
    )
    run_number: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=PENDING)
    phase: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=QUEUED)
    plan: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    approval_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved: Mapped[bool | None] = mapped_column(sa.Boolean)
    feedback: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    operation_id: Mapped[str | None] = mapped_column(sa.String(36))
    error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (None until both are known)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


class AgentRunStep(Model):
    """One step of a run's plan; its state is the execution checkpoint."""

    __tablename__ = "agents_run_steps"
    __table_args__ = (sa.UniqueConstraint("run_id", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agents_runs.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    step_id: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    repeatable: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=STEP_PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AgentRunLog(Model):
    """One line of a run's log (a team's output, stdout/stderr of a step, or the runner's)."""

    __tablename__ = "agents_run_logs"
    __table_args__ = (sa.Index("ix_agents_run_logs_run_id_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agents_runs.id", ondelete="CASCADE"), nullable=False
    )
    step_id: Mapped[str | None] = mapped_column(sa.String(100))
    stream: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="info")
    line: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


class AgentMetric(Model):
    """One recorded value (durations, exit codes, counts, tokens)."""

    __tablename__ = "agents_metrics"
    __table_args__ = (
        sa.Index("ix_agents_metrics_task_id_name", "task_id", "name"),
        sa.Index("ix_agents_metrics_run_id_name", "run_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agents_tasks.id", ondelete="CASCADE"), nullable=False
    )
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agents_runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    value: Mapped[float] = mapped_column(sa.Float, nullable=False)
    unit: Mapped[str] = mapped_column(sa.String(32), nullable=False, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


# Agent process states (seed 000) and what was asked for.
P_STOPPED, P_STARTING, P_RUNNING, P_FINISHING, P_STOPPING = (
    "stopped",
    "starting",
    "running",
    "finishing",
    "stopping",
)
PROCESS_STATUSES = (P_STOPPED, P_STARTING, P_RUNNING, P_FINISHING, P_STOPPING)
WANT_RUNNING, WANT_SOFT_STOP, WANT_STOPPED = "running", "soft_stop", "stopped"
OUTPUT_LINES = 100  # the last output lines of an agent that its process row keeps


class AgentProcess(Model):
    """The agent process of one project: what was asked for (``desired``), what is (``status``),
    and which pid on which host holds it. Start and stop requests reach the owning runner
    through this row."""

    __tablename__ = "agents_processes"

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    desired: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=WANT_STOPPED)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=P_STOPPED)
    command: Mapped[str | None] = mapped_column(sa.Text)
    pid: Mapped[int | None] = mapped_column(sa.Integer)
    pid_start: Mapped[int | None] = mapped_column(sa.BigInteger)
    host: Mapped[str | None] = mapped_column(sa.String(255))
    exit_code: Mapped[int | None] = mapped_column(sa.Integer)
    output: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    operation_id: Mapped[str | None] = mapped_column(sa.String(36))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
