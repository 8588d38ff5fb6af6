"""core runtime: settings

Revision ID: core_0002
Revises: core_0001
"""

import sqlalchemy as sa  # noqa: F401 - used once the revision has content
from alembic import op  # noqa: F401

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
