"""hello: greetings

The first revision of the ``hello`` branch: ``branch_labels`` names the branch and
``depends_on`` makes it apply after the core's first revision.

Revision ID: hello_0001
Revises:
Create Date: 2026-11-23 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "hello_0001"
down_revision = None
branch_labels = ("hello",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "hello_greetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hello_greetings")),
    )
    with op.batch_alter_table("hello_greetings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hello_greetings_delivered_at"), ["delivered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hello_greetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hello_greetings_delivered_at"))
    op.drop_table("hello_greetings")
