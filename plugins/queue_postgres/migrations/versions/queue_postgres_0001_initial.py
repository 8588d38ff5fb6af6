"""queue_postgres: the build-queue table and its counters

Revision ID: queue_postgres_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "queue_postgres_0001"
down_revision = None
branch_labels = ("queue_postgres",)
depends_on = "core_0001"

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Made on SQLite too (so the models and migrations agree everywhere), though the backend
    # itself refuses to run on anything but PostgreSQL.
    op.create_table(
        "queue_postgres_items",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("enqueued_at", sa.Double(), nullable=False),
        sa.Column("available_at", sa.Double(), nullable=False),
        sa.Column("leased_until", sa.Double(), nullable=True),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_queue_postgres_items")),
        sa.UniqueConstraint("id", name=op.f("uq_queue_postgres_items_id")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_queue_postgres_items_dedup_key")),
    )
    op.create_index(
        "ix_queue_postgres_items_available", "queue_postgres_items", ["available_at", "seq"]
    )
    op.create_index(
        "ix_queue_postgres_items_leased_until", "queue_postgres_items", ["leased_until"]
    )
    op.create_table(
        "queue_postgres_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queue_postgres_counters")),
    )


def downgrade() -> None:
    op.drop_table("queue_postgres_counters")
    op.drop_index("ix_queue_postgres_items_leased_until", table_name="queue_postgres_items")
    op.drop_index("ix_queue_postgres_items_available", table_name="queue_postgres_items")
    op.drop_table("queue_postgres_items")
