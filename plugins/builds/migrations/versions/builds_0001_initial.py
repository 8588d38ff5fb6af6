"""builds: events, hints, logs (+ full-text index), live log chunks, plans, manifests

Revision ID: builds_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "builds_0001"
down_revision = None
branch_labels = ("builds",)
depends_on = "core_0001"

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "builds_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("python_tag", sa.String(length=64), nullable=True),
        sa.Column("platform_tag", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("metadata", JSON_DOC, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("matched_hint_ids", sa.JSON(), nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_builds_events_event_id")),
    )
    op.create_index("ix_builds_events_timestamp", "builds_events", ["timestamp", "id"])
    op.create_index("ix_builds_events_name_timestamp", "builds_events", ["name", "timestamp", "id"])
    op.create_index(
        "ix_builds_events_name_version_timestamp",
        "builds_events",
        ["name", "version", "timestamp", "id"],
    )
    op.create_index(
        "ix_builds_events_status_timestamp", "builds_events", ["status", "timestamp", "id"]
    )
    op.create_index(
        "ix_builds_events_status_name", "builds_events", ["status", "name", "timestamp"]
    )
    op.create_index(
        "ix_builds_events_run_id_timestamp", "builds_events", ["run_id", "timestamp", "id"]
    )
    op.create_index("ix_builds_events_duration_ms", "builds_events", ["duration_ms"])

    op.create_table(
        "builds_hints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=1000), nullable=False),
        sa.Column("recipes", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds_hints")),
    )

    op.create_table(
        "builds_logs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds_logs")),
    )
    op.create_index(
        "ix_builds_logs_name_version_timestamp",
        "builds_logs",
        ["name", "version", "timestamp", "id"],
    )
    # The full-text index is not a mapped table: its shape differs per database.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE builds_log_search ("
            " log_id BIGINT PRIMARY KEY REFERENCES builds_logs (id) ON DELETE CASCADE,"
            " tsv tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_builds_log_search_tsv ON builds_log_search USING GIN (tsv)")
        # Every tsvector out of line (TOAST): the heap holds ids only, so a search whose GIN
        # bitmap covers many logs reads a few small pages, not every log's tsvector.
        op.execute("ALTER TABLE builds_log_search SET (toast_tuple_target = 128)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE builds_log_fts USING fts5(body, tokenize='porter unicode61')"
        )

    op.create_table(
        "builds_log_chunks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds_log_chunks")),
        sa.UniqueConstraint(
            "name", "version", "first_line", name=op.f("uq_builds_log_chunks_name")
        ),
    )

    op.create_table(
        "builds_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("plan", JSON_DOC, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds_plans")),
    )
    op.create_index(op.f("ix_builds_plans_created_at"), "builds_plans", ["created_at"])

    op.create_table(
        "builds_manifest_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("wheel", sa.String(length=1024), nullable=True),
        sa.Column("python_tag", sa.String(length=64), nullable=True),
        sa.Column("platform_tag", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds_manifest_entries")),
    )
    op.create_index(
        "ix_builds_manifest_entries_run_id_id", "builds_manifest_entries", ["run_id", "id"]
    )


def downgrade() -> None:
    op.drop_table("builds_manifest_entries")
    op.drop_table("builds_plans")
    op.drop_table("builds_log_chunks")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE builds_log_search")
    else:
        op.execute("DROP TABLE builds_log_fts")
    op.drop_table("builds_logs")
    op.drop_table("builds_hints")
    op.drop_table("builds_events")
