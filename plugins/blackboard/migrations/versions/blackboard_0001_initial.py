"""blackboard: artifact types, artifacts, correlations, HTTP agents, consumptions

Revision ID: blackboard_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "blackboard_0001"
down_revision = None
branch_labels = ("blackboard",)
depends_on = "core_0001"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blackboard_artifact_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blackboard_artifact_types")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_blackboard_artifact_types_name")),
    )
    op.create_table(
        "blackboard_correlations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blackboard_correlations")),
    )
    op.create_table(
        "blackboard_artifacts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("type_version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("produced_by", sa.String(length=100), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("partition_key", sa.String(length=200), nullable=True),
        sa.Column("tags_text", sa.String(length=2000), nullable=False),
        sa.Column("visibility_kind", sa.String(length=16), nullable=False),
        sa.Column("visibility", sa.JSON(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blackboard_artifacts")),
    )
    op.create_index(
        "ix_blackboard_artifacts_correlation_created",
        "blackboard_artifacts",
        ["correlation_id", "created_at"],
    )
    op.create_index(
        "ix_blackboard_artifacts_type_created", "blackboard_artifacts", ["type", "created_at"]
    )
    op.create_index("ix_blackboard_artifacts_created", "blackboard_artifacts", ["created_at", "id"])
    op.create_table(
        "blackboard_agents",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("secret_encrypted", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=True),
        sa.Column("subscriptions", sa.JSON(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("circuit_open_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_blackboard_agents")),
    )
    op.create_table(
        "blackboard_consumptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blackboard_consumptions")),
        sa.UniqueConstraint(
            "artifact_id", "agent", name=op.f("uq_blackboard_consumptions_artifact_id")
        ),
    )
    op.create_index(
        "ix_blackboard_consumptions_correlation_status",
        "blackboard_consumptions",
        ["correlation_id", "status"],
    )
    op.create_index(
        "ix_blackboard_consumptions_agent", "blackboard_consumptions", ["agent", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("blackboard_consumptions")
    op.drop_table("blackboard_agents")
    op.drop_table("blackboard_artifacts")
    op.drop_table("blackboard_correlations")
    op.drop_table("blackboard_artifact_types")
