"""jira: export sessions and tickets

Revision ID: jira_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "jira_0001"
down_revision = None
branch_labels = ("jira",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "jira_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("jira_project_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_stage", sa.String(length=32), nullable=False),
        sa.Column("export_task_id", sa.String(length=36), nullable=True),
        sa.Column("last_task_id", sa.String(length=36), nullable=True),
        sa.Column("export_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("export_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at_ticket_order", sa.Integer(), nullable=True),
        sa.Column("export_retry_count", sa.Integer(), nullable=False),
        sa.Column("error_category", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("recovery_actions", sa.JSON(), nullable=False),
        sa.Column("dependencies_created", sa.Integer(), nullable=False),
        sa.Column("manual_fixes", sa.JSON(), nullable=False),
        sa.Column("orphans", sa.JSON(), nullable=False),
        sa.Column("processing_seconds", sa.Float(), nullable=False),
        sa.Column("current_ticket_title", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_jira_sessions_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jira_sessions")),
    )
    op.create_index(
        op.f("ix_jira_sessions_project_id"), "jira_sessions", ["project_id"], unique=False
    )
    op.create_table(
        "jira_tickets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description_html", sa.Text(), nullable=False),
        sa.Column("issue_type", sa.String(length=64), nullable=False),
        sa.Column("assignee", sa.String(length=255), nullable=True),
        sa.Column("sprint", sa.String(length=255), nullable=True),
        sa.Column("priority", sa.String(length=64), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("dependencies", sa.JSON(), nullable=False),
        sa.Column("feature_id", sa.Integer(), nullable=True),
        sa.Column("attachment_path", sa.String(length=1024), nullable=True),
        sa.Column("attachment_filename", sa.String(length=255), nullable=True),
        sa.Column("attachment_size", sa.Integer(), nullable=True),
        sa.Column("attachment_content_type", sa.String(length=128), nullable=True),
        sa.Column("attachment_uploaded", sa.Boolean(), nullable=False),
        sa.Column("jira_export_status", sa.String(length=20), nullable=False),
        sa.Column("create_attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("jira_issue_id", sa.String(length=32), nullable=True),
        sa.Column("jira_ticket_key", sa.String(length=64), nullable=True),
        sa.Column("jira_ticket_url", sa.String(length=1024), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["jira_sessions.id"],
            name=op.f("fk_jira_tickets_session_id_jira_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jira_tickets")),
    )
    op.create_index(
        "ix_jira_tickets_session_order", "jira_tickets", ["session_id", "order"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_jira_tickets_session_order", table_name="jira_tickets")
    op.drop_table("jira_tickets")
    op.drop_index(op.f("ix_jira_sessions_project_id"), table_name="jira_sessions")
    op.drop_table("jira_sessions")
