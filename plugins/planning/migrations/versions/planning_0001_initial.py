"""planning: sync state, webhook dedup, sprint completions

Revision ID: planning_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "planning_0001"
down_revision = None
branch_labels = ("planning",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "planning_sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("items_synced", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("backoff_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_webhook_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_count", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(length=64), nullable=True),
        sa.Column("cycle_name", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_planning_sync_state_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_sync_state")),
        sa.UniqueConstraint("project_id", name=op.f("uq_planning_sync_state_project_id")),
    )
    op.create_table(
        "planning_webhook_seen",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_planning_webhook_seen")),
    )
    op.create_table(
        "planning_sprint_completions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(length=64), nullable=False),
        sa.Column("cycle_name", sa.String(length=255), nullable=False),
        sa.Column("git_tag", sa.String(length=255), nullable=False),
        sa.Column("release_notes_path", sa.String(length=1024), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_planning_sprint_completions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_sprint_completions")),
        sa.UniqueConstraint(
            "project_id", "cycle_id", name=op.f("uq_planning_sprint_completions_project_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("planning_sprint_completions")
    op.drop_table("planning_webhook_seen")
    op.drop_table("planning_sync_state")
