"""agents: tasks, runs, run steps, run logs, metrics

Revision ID: agents_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "agents_0001"
down_revision = None
branch_labels = ("agents",)
depends_on = "core_0001"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("max_rounds", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=True),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("approval_timeout", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_runs", sa.Integer(), nullable=False),
        sa.Column("successful_runs", sa.Integer(), nullable=False),
        sa.Column("failed_runs", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents_tasks")),
    )
    op.create_index("ix_agents_tasks_status", "agents_tasks", ["status"])
    op.create_index(op.f("ix_agents_tasks_project"), "agents_tasks", ["project"])
    op.create_table(
        "agents_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("approval_deadline", TZ, nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["agents_tasks.id"],
            name=op.f("fk_agents_runs_task_id_agents_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents_runs")),
    )
    op.create_index("ix_agents_runs_task_id", "agents_runs", ["task_id"])
    op.create_index("ix_agents_runs_status", "agents_runs", ["status"])
    op.create_index("ix_agents_runs_phase_deadline", "agents_runs", ["phase", "approval_deadline"])
    op.create_table(
        "agents_run_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("repeatable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["agents_runs.id"],
            name=op.f("fk_agents_run_steps_run_id_agents_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents_run_steps")),
        sa.UniqueConstraint("run_id", "step_id", name=op.f("uq_agents_run_steps_run_id")),
    )
    op.create_table(
        "agents_run_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=True),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["agents_runs.id"],
            name=op.f("fk_agents_run_logs_run_id_agents_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents_run_logs")),
    )
    op.create_index("ix_agents_run_logs_run_id_id", "agents_run_logs", ["run_id", "id"])
    op.create_table(
        "agents_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["agents_tasks.id"],
            name=op.f("fk_agents_metrics_task_id_agents_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["agents_runs.id"],
            name=op.f("fk_agents_metrics_run_id_agents_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents_metrics")),
    )
    op.create_index("ix_agents_metrics_task_id_name", "agents_metrics", ["task_id", "name"])
    op.create_index("ix_agents_metrics_run_id_name", "agents_metrics", ["run_id", "name"])


def downgrade() -> None:
    op.drop_table("agents_metrics")
    op.drop_table("agents_run_logs")
    op.drop_table("agents_run_steps")
    op.drop_table("agents_runs")
    op.drop_table("agents_tasks")
