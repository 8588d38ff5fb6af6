"""On PostgreSQL the hot queries use their indexes (``EXPLAIN`` on a table of real size)."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from app.db import db

pytestmark = pytest.mark.skipif(
    not os.environ.get("JUNCTION_TEST_DATABASE_URL"), reason="PostgreSQL only"
)

ROWS = 60_000

QUERIES = {
    "history by package": (
        "SELECT * FROM builds_events WHERE name = 'pkg-7' ORDER BY timestamp DESC, id DESC "
        "LIMIT 50",
        "ix_builds_events_name_timestamp",
    ),
    "history by run": (
        "SELECT * FROM builds_events WHERE run_id = 'run-3' ORDER BY timestamp DESC, id DESC "
        "LIMIT 50",
        "ix_builds_events_run_id_timestamp",
    ),
    "recent": (
        "SELECT * FROM builds_events ORDER BY timestamp DESC, id DESC LIMIT 50",
        "ix_builds_events_timestamp",
    ),
    "latest failures": (
        "SELECT * FROM builds_events WHERE status IN ('failed', 'timeout') "
        "ORDER BY timestamp DESC, id DESC LIMIT 20",
        # With failures common, walking the time index and filtering is the cheaper plan.
        "ix_builds_events_status_timestamp|ix_builds_events_timestamp",
    ),
    "event of a version": (
        "SELECT * FROM builds_events WHERE name = 'pkg-7' AND version = '1.3' "
        "ORDER BY timestamp DESC, id DESC LIMIT 1",
        "ix_builds_events_name_version_timestamp",
    ),
    "top slowest": (
        "SELECT * FROM builds_events WHERE duration_ms IS NOT NULL "
        "ORDER BY duration_ms DESC LIMIT 10",
        "ix_builds_events_duration_ms",
    ),
    "top failures": (
        "SELECT * FROM builds_failure_counts ORDER BY failures DESC, name DESC LIMIT 10",
        "ix_builds_failure_counts_failures",
    ),
    "log search, first pass (newest logs)": (
        "SELECT log_id FROM builds_log_search WHERE log_id > 4500 AND tsv @@ "
        "websearch_to_tsquery('english', 'ok') ORDER BY log_id DESC LIMIT 20",
        "builds_log_search_pkey|ix_builds_log_search_tsv",
    ),
    "log search, second pass (every match)": (
        "WITH hits AS MATERIALIZED (SELECT log_id FROM builds_log_search WHERE tsv @@ "
        "websearch_to_tsquery('english', 'linker')) SELECT log_id FROM hits "
        "ORDER BY log_id DESC LIMIT 20",
        "ix_builds_log_search_tsv",
    ),
}


def test_hot_queries_use_their_indexes(junction_app):
    with junction_app.app_context():
        db.session.execute(
            sa.text(
                "INSERT INTO builds_events (run_id, name, version, status, metadata, "
                "duration_ms, matched_hint_ids, timestamp, created_at) "
                "SELECT 'run-' || (g % 500), 'pkg-' || (g % 2000), '1.' || (g % 7), "
                "(ARRAY['built','built','built','built','reused','building','building',"
                "'built','failed','timeout'])[1 + g % 10], '{}', "
                "g % 100000, '[]', now() - g * interval '1 second', now() "
                "FROM generate_series(1, :n) g"
            ),
            {"n": ROWS},
        )
        db.session.execute(
            sa.text(
                "INSERT INTO builds_logs (id, name, version, content, size_bytes, truncated, "
                "timestamp) SELECT g, 'pkg-' || g, '1.0', '\\x00', 1, false, now() "
                "FROM generate_series(1, 5000) g"
            )
        )
        db.session.execute(
            sa.text(
                # Logs of realistic size: a few dozen distinct words each.
                "INSERT INTO builds_log_search (log_id, tsv) SELECT g, to_tsvector('english', "
                "(SELECT string_agg(md5((g * k)::text), ' ') FROM generate_series(1, 40) k) "
                "|| CASE WHEN g % 100 = 0 THEN ' linker failed' ELSE ' ok' END) "
                "FROM generate_series(1, 5000) g"
            )
        )
        db.session.commit()
        db.session.execute(sa.text("ANALYZE builds_events"))
        db.session.execute(
            sa.text(
                "INSERT INTO builds_failure_counts SELECT name, count(*), max(timestamp) "
                "FROM builds_events WHERE status IN ('failed', 'timeout') GROUP BY name"
            )
        )
        db.session.commit()
        db.session.execute(sa.text("ANALYZE builds_log_search"))
        db.session.execute(sa.text("ANALYZE builds_failure_counts"))
        for label, (query, index) in QUERIES.items():
            plan = "\n".join(db.session.scalars(sa.text("EXPLAIN " + query)))
            assert any(i in plan for i in index.split("|")), f"{label}: not {index}:\n{plan}"
            assert "Seq Scan on builds_events" not in plan, f"{label}:\n{plan}"
