"""builds: failure counts per package (top-failures without aggregating every failure)

Revision ID: builds_0002
Revises: builds_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "builds_0002"
down_revision = "builds_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "builds_failure_counts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_builds_failure_counts")),
    )
    op.create_index(
        "ix_builds_failure_counts_failures", "builds_failure_counts", ["failures", "name"]
    )
    # Counts of the events stored before this revision.
    op.execute(
        "INSERT INTO builds_failure_counts (name, failures, last_failure) "
        "SELECT name, count(*), max(timestamp) FROM builds_events "
        "WHERE status IN ('failed', 'timeout') GROUP BY name"
    )


def downgrade() -> None:
    op.drop_table("builds_failure_counts")
