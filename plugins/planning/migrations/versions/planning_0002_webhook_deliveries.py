"""planning: webhook deliveries seen (24 h replay guard), hashed dedup keys

Revision ID: planning_0002
Revises: planning_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "planning_0002"
down_revision = "planning_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "planning_webhook_deliveries",
        sa.Column("delivery_hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_hash", name=op.f("pk_planning_webhook_deliveries")),
    )
    with op.batch_alter_table("planning_webhook_deliveries") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_planning_webhook_deliveries_received_at"), ["received_at"]
        )
    # Keys are now stored as hashes of the full key; the old rows (the key cut at 200
    # characters, which deduplicated a long id forever) can never match again.
    op.execute(sa.text("DELETE FROM planning_webhook_seen"))
    with op.batch_alter_table("planning_webhook_seen") as batch_op:
        batch_op.create_index(batch_op.f("ix_planning_webhook_seen_last_seen_at"), ["last_seen_at"])


def downgrade() -> None:
    with op.batch_alter_table("planning_webhook_seen") as batch_op:
        batch_op.drop_index(batch_op.f("ix_planning_webhook_seen_last_seen_at"))
    with op.batch_alter_table("planning_webhook_deliveries") as batch_op:
        batch_op.drop_index(batch_op.f("ix_planning_webhook_deliveries_received_at"))
    op.drop_table("planning_webhook_deliveries")
