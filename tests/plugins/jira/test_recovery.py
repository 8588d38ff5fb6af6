"""Lost answers adopted (never duplicated), hard stops with the seed's categories, retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import db
from plugins.jira.models import ExportSession
from tests.plugins.jira.conftest import Env
from tests.support import redis_url, wait_until

THREE: list[dict[str, Any]] = [
    {"title": "A"},
    {"title": "B", "dependencies": [0]},
    {"title": "C", "dependencies": [1]},
]


@pytest.mark.parametrize("mode", ["reset", "error", "timeout"])
def test_a_lost_create_answer_is_adopted_not_duplicated(env: Env, mode: str) -> None:
    env.fake.faults.hold_seconds = 0.2  # a held answer ends quickly: the client then times out
    env.fake.faults.lose_answer(mode, skip=1)  # the 2nd create succeeds, its answer is lost
    sid = env.session(THREE)["id"]
    assert env.post(f"/api/jira/export-session/{sid}").status_code == 202
    env.run()
    counts = env.fake.label_counts("junction-")
    assert len(counts) == 3 and set(counts.values()) == {1}
    assert len(env.fake.issues("DEMO")) == 3
    assert env.fake.calls_to("POST", r"/search/jql$"), "the lost create was looked up"
    assert len(env.fake.blocks()) == 2
    assert env.get(f"/api/jira/export-status/{sid}").get_json()["status"] == "completed"


def test_temporary_failure_stops_then_retry_resumes_keeping_keys(env: Env) -> None:
    # After the first create, every create answers 503 (three tries, then a hard stop).
    env.fake.faults.after_creates(
        1, lambda: env.fake.faults.burst(3, 503, method="POST", path=r"/issue$")
    )
    sid = env.session(THREE)["id"]
    env.post(f"/api/jira/export-session/{sid}")
    env.run()
    status = env.get(f"/api/jira/export-status/{sid}").get_json()
    assert status["status"] == "failed", status
    assert status["error_category"] == "temporary"
    assert status["failed_at_ticket_order"] == 2
    assert status["retry_available"] is True and status["retry_attempts_used"] == 0
    first_key = env.status_row(sid)["tickets"][0]["jira_ticket_key"]
    assert first_key

    env.clock.advance(3)
    retry = env.post(f"/api/jira/retry-failed/{sid}")
    assert retry.status_code == 202, retry.get_json()
    body = retry.get_json()
    assert body["retry_attempt"] == 1 and body["remaining_retries"] == 2
    assert body["resuming_from_ticket_order"] == 2
    assert body["preserved_successful_tickets"] == 1
    env.run()
    row = env.status_row(sid)
    assert row["status"] == "completed"
    assert row["tickets"][0]["jira_ticket_key"] == first_key
    counts = env.fake.label_counts("junction-")
    assert len(counts) == 3 and set(counts.values()) == {1}


def test_revoked_token_is_admin_required(env: Env) -> None:
    sid = env.session(THREE)["id"]
    env.fake.faults.after_creates(1, lambda: env.fake.revoke_token())
    env.post(f"/api/jira/export-session/{sid}")
    env.run()
    status = env.get(f"/api/jira/export-status/{sid}").get_json()
    assert status["error_category"] == "admin_required"
    assert any("API token" in action for action in status["recovery_actions"])
    with env.app.app_context():
        from app import operations

        op = operations.get_operation(status["task_id"])
        assert op.status == "failed" and op.error is not None
        assert op.error["problem"]["status"] == 403


def test_deleted_project_is_user_fixable(env: Env) -> None:
    sid = env.session(THREE)["id"]
    env.fake.faults.after_creates(2, lambda: env.fake.delete_project("DEMO"))
    env.post(f"/api/jira/export-session/{sid}")
    env.run()
    status = env.get(f"/api/jira/export-status/{sid}").get_json()
    assert status["error_category"] == "user_fixable" and status["failed_at_ticket_order"] == 3


def test_retry_rules(env: Env) -> None:
    sid = env.session(THREE)["id"]
    not_failed = env.post(f"/api/jira/retry-failed/{sid}")
    assert not_failed.status_code == 422
    env.post(f"/api/jira/export-session/{sid}")
    running = env.post(f"/api/jira/retry-failed/{sid}")
    assert running.status_code == 409 and running.get_json()["code"] == "JIRA_EXPORT_RUNNING"
    with env.app.app_context():
        session = db.session.get(ExportSession, sid)
        assert session is not None
        db.session.execute(
            sa.update(ExportSession)
            .where(ExportSession.id == sid)
            .values(
                status="export_failed",
                export_retry_count=3,
                export_task_id=None,
                first_error_at=session.created_at,
            )
        )
        db.session.commit()
    exhausted = env.post(f"/api/jira/retry-failed/{sid}")
    assert exhausted.status_code == 422
    body = exhausted.get_json()
    assert body["error_category"] == "admin_required"
    assert body["user_message"] == (
        "Maximum retry attempts (3) exceeded. Please contact administrator."
    )
    assert body["recovery_actions"] == [
        "Contact system administrator",
        "Session may need manual cleanup",
    ]
    assert body["retry_attempts_used"] == 3 and body["first_error_at"].endswith("Z")


def test_status_is_rate_limited_per_session_across_workers(
    make_env: Callable[..., Env], make_app: Callable[..., Flask]
) -> None:
    first = make_env({"JUNCTION_OPERATION_RUNNERS": "off"})
    sid = first.session(THREE)["id"]
    first.post(f"/api/jira/export-session/{sid}")
    ok = first.get(f"/api/jira/export-status/{sid}")
    assert ok.status_code == 200 and ok.get_json()["status"] == "exporting"
    assert ok.get_json()["total_tickets"] == 3
    again = first.get(f"/api/jira/export-status/{sid}")
    assert again.status_code == 429
    assert again.headers["Content-Type"].startswith("application/problem+json")
    assert int(again.headers["Retry-After"]) >= 1
    # Another worker (another app on the same database and limiter) shares the budget.
    config = {"JUNCTION_OPERATION_RUNNERS": "off"}
    if url := redis_url():
        config["JUNCTION_REDIS_URL"] = url
    second = make_app(config)
    second.extensions["jira"] = {"clock": first.clock}
    assert second.test_client().get(f"/api/jira/export-status/{sid}").status_code == 429
    first.clock.advance(2.1)  # the in-memory limiter's time; Redis uses its own clock
    wait_until(
        lambda: first.get(f"/api/jira/export-status/{sid}").status_code == 200,
        timeout=10,
        interval=0.5,
        what="the status budget to refill",
    )


def test_export_without_a_client_is_a_user_fixable_stop(env: Env) -> None:
    """No client can be built when the export runs (the settings went away since it was
    started): the failure is recorded without one, and the operation fails for good."""
    from app.errors import BadRequest

    sid = env.session(THREE)["id"]
    assert env.post(f"/api/jira/export-session/{sid}").status_code == 202

    def unconfigured(cfg: object) -> object:
        raise BadRequest("Jira is not configured: set api_token.", code="JIRA_NOT_CONFIGURED")

    env.app.extensions["jira"]["client_factory"] = unconfigured
    env.run()
    status = env.get(f"/api/jira/export-status/{sid}").get_json()
    assert status["status"] == "failed", status
    assert status["error_category"] == "user_fixable"
    assert status["failed_at_ticket_order"] == 1
    assert status["recovery_actions"] == ["Set the connection settings", "Retry the export"]
    assert env.fake.issues("DEMO") == []
    with env.app.app_context():
        from app import operations

        op = operations.get_operation(status["task_id"])
        assert op.status == "failed" and op.attempts == 1
