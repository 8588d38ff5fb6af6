"""Durable operations: claiming, leases, progress, checkpoints, retries, cancellation, API."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import events
from app import operations as ops
from app.db import db
from app.errors import ValidationFailed
from app.operations import runner
from app.operations.models import Operation
from app.testing import FakeClock
from tests.fixture_plugins import opsplugin
from tests.support import wait_until

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


class Crash(BaseException):
    """Stands in for the process dying mid-handler: nothing below the handler handles it."""


@pytest.fixture
def clock(junction_clock: FakeClock) -> FakeClock:
    """The public fake clock (its wall time starts at ``T0``)."""
    assert junction_clock.now() == T0
    return junction_clock


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: FakeClock) -> Flask:
    app = make_app({"JUNCTION_OPERATION_LEASE_SECONDS": 30})
    rt = ops.runtime(app)
    rt.now = clock.now
    rt.random = lambda: 0.5  # jitter fixed: delay = 0.75 * the exponential step
    rt.poll_interval = 0.02
    return app


@pytest.fixture
def ctx(app: Flask):
    with app.app_context():
        yield app


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def publish(channel: str, type: str, data: dict, *, project: str | None = None) -> int:
        seen.append((channel, type, data))
        return len(seen)

    monkeypatch.setattr(events, "publish", publish)
    return seen


def row(operation_id: str) -> Operation:
    return ops.get_operation(operation_id)


def error_of(operation: Operation) -> dict[str, Any]:
    """The error recorded on ``operation`` (there must be one)."""
    assert operation.error is not None, operation.status
    return operation.error


# -- running, progress, checkpoints ----------------------------------------------------------


def test_handler_progress_checkpoint_and_result_are_persisted(ctx, published):
    seen_rows: list[dict[str, Any]] = []

    def handler(c: ops.OperationContext) -> dict[str, Any]:
        c.progress(1, 4, "first")
        c.save_checkpoint({"next": 1})
        with db.engine.connect() as connection:  # another connection sees it committed
            stored = connection.execute(
                sa.select(Operation.progress, Operation.checkpoint, Operation.status).where(
                    Operation.id == c.id
                )
            ).one()
        seen_rows.append(dict(stored._mapping))
        return {"total": 4, "attempt": c.attempt, "params": c.params}

    ops.register_handler("t.work", handler)
    op = ops.submit("t.work", {"n": 4}, project="alpha")
    assert op.status == "pending" and op.attempts == 0

    assert ops.run_pending() == 1
    assert seen_rows == [
        {
            "progress": {"done": 1, "total": 4, "message": "first", "percent": 25.0},
            "checkpoint": {"next": 1},
            "status": "running",
        }
    ]
    done = row(op.id)
    assert done.status == "succeeded"
    assert done.result == {"total": 4, "attempt": 1, "params": {"n": 4}}
    assert done.attempts == 1 and done.error is None
    assert done.lease_owner is None and done.finished_at is not None
    assert ops.run_pending() == 0  # nothing left

    progress_events = [(ch, t) for ch, t, d in published if t == "operation.progress"]
    assert progress_events == [
        (f"operation:{op.id}", "operation.progress"),
        ("operations", "operation.progress"),
    ]
    types = [t for ch, t, _ in published if ch == f"operation:{op.id}"]
    assert types == [
        "operation.created",
        "operation.started",
        "operation.progress",
        "operation.succeeded",
    ]


def test_unknown_kind_is_refused_and_plugin_handlers_are_collected(make_app):
    app = make_app(extra_plugins=[("opsplugin", opsplugin)])
    with app.app_context():
        assert opsplugin.KIND in app.extensions["junction"].operation_handlers
        with pytest.raises(ValidationFailed):
            ops.submit("nope.nothing", {})


def test_result_that_is_not_json_fails_the_operation(ctx):
    ops.register_handler("t.bad", lambda c: {"when": object()})
    op = ops.submit("t.bad", {})
    ops.run_pending()
    failed = row(op.id)
    assert failed.status == "failed" and error_of(failed)["category"] == "internal"


# -- claiming ----------------------------------------------------------------------------------


def test_only_one_of_many_concurrent_runners_claims_an_operation(app):
    with app.app_context():
        ops.register_handler("t.claim", lambda c: None)
        op = ops.submit("t.claim", {})
    barrier = threading.Barrier(6)
    claims: list[Any] = []

    def contend() -> None:
        with app.app_context():
            barrier.wait()
            claims.append(ops.claim_next(["t.claim"]))

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [c for c in claims if c is not None]
    assert len(claims) == 6 and len(won) == 1
    assert won[0][0]["id"] == op.id and won[0][0]["attempts"] == 1


def test_runners_split_a_backlog_without_running_anything_twice(app):
    ran: list[str] = []
    lock = threading.Lock()

    def handler(c: ops.OperationContext) -> None:
        with lock:
            ran.append(c.id)

    with app.app_context():
        ops.register_handler("t.many", handler)
        ids = {ops.submit("t.many", {"i": i}).id for i in range(12)}

    def runner_thread() -> None:
        with app.app_context():
            ops.run_pending()

    threads = [threading.Thread(target=runner_thread) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(ran) == sorted(ids)  # each exactly once
    with app.app_context():
        attempts = db.session.scalars(sa.select(Operation.attempts)).all()
    assert attempts == [1] * 12


def test_a_runner_only_claims_kinds_it_can_run(ctx):
    ops.register_handler("t.mine", lambda c: None)
    op = ops.submit("t.mine", {})
    assert ops.claim_next(["t.other"]) is None
    assert row(op.id).status == "pending"


# -- retries -----------------------------------------------------------------------------------


def test_temporary_failures_retry_with_exponential_backoff(ctx, clock):
    def handler(c: ops.OperationContext) -> str:
        if c.attempt < 3:
            raise ops.TemporaryFailure(f"flaky {c.attempt}")
        return "ok"

    ops.register_handler("t.flaky", handler)
    op = ops.submit("t.flaky", {})
    assert ops.run_pending() == 1
    first = row(op.id)
    assert first.status == "pending" and first.attempts == 1
    assert error_of(first)["category"] == "temporary" and error_of(first)["message"] == "flaky 1"
    # base 2 s, attempt 1: step 2 s, equal jitter at 0.5 -> 1.5 s.
    assert first.next_attempt_at == T0 + dt.timedelta(seconds=1.5)

    assert ops.run_pending() == 0  # not due yet
    clock.advance(1.4)
    assert ops.run_pending() == 0
    clock.advance(0.1)
    assert ops.run_pending() == 1
    second = row(op.id)
    assert second.attempts == 2 and second.status == "pending"
    # attempt 2: step 4 s -> 3 s.
    assert second.next_attempt_at == clock.now() + dt.timedelta(seconds=3)

    clock.advance(3)
    assert ops.run_pending() == 1
    final = row(op.id)
    assert final.status == "succeeded" and final.attempts == 3 and final.result == "ok"
    assert final.error is None


def test_retry_after_is_a_lower_bound_on_the_delay(ctx, clock):
    def handler(c: ops.OperationContext) -> None:
        raise ops.TemporaryFailure("slow down", retry_after=60)

    ops.register_handler("t.ratelimited", handler)
    op = ops.submit("t.ratelimited", {})
    ops.run_pending()
    assert row(op.id).next_attempt_at == T0 + dt.timedelta(seconds=60)


def test_backoff_is_capped_and_jittered(app):
    rt = ops.runtime(app)
    rt.random = lambda: 0.0
    assert rt.backoff(1) == 1.0
    assert rt.backoff(20) == rt.backoff_max / 2
    rt.random = lambda: 0.999
    assert rt.backoff(20) <= rt.backoff_max


def test_after_max_attempts_the_operation_fails(ctx, clock):
    calls: list[int] = []

    def handler(c: ops.OperationContext) -> None:
        calls.append(c.attempt)
        raise ops.TemporaryFailure("still down")

    ops.register_handler("t.down", handler)
    op = ops.submit("t.down", {}, max_attempts=3)
    for _ in range(5):
        ops.run_pending()
        clock.advance(3600)
    failed = row(op.id)
    assert calls == [1, 2, 3]
    assert failed.status == "failed" and failed.attempts == 3
    assert failed.error == {
        "message": "still down",
        "category": "temporary",
        "type": "TemporaryFailure",
        "attempt": 3,
    }


def test_permanent_and_unexpected_errors_fail_at_once(ctx):
    def permanent(c: ops.OperationContext) -> None:
        raise ops.PermanentFailure("bad credentials", category="auth")

    def broken(c: ops.OperationContext) -> None:
        raise KeyError("boom")

    ops.register_handler("t.permanent", permanent)
    ops.register_handler("t.broken", broken)
    a = ops.submit("t.permanent", {})
    b = ops.submit("t.broken", {})
    assert ops.run_pending() == 2
    assert (row(a.id).status, row(a.id).attempts, error_of(row(a.id))["category"]) == (
        "failed",
        1,
        "auth",
    )
    assert (row(b.id).status, error_of(row(b.id))["category"]) == ("failed", "internal")


# -- leases: dead runners and lost leases ------------------------------------------------------


def test_expired_lease_is_reclaimed_and_resumes_from_the_checkpoint(ctx, clock):
    seen: list[tuple[int, dict[str, Any]]] = []

    def handler(c: ops.OperationContext) -> dict[str, Any]:
        seen.append((c.attempt, dict(c.checkpoint)))
        for step in range(c.checkpoint.get("next", 0), 5):
            c.save_checkpoint({"next": step + 1})
            if c.attempt == 1 and step == 2:
                raise Crash()
        return {"steps": 5}

    ops.register_handler("t.resume", handler)
    op = ops.submit("t.resume", {})
    with pytest.raises(Crash):
        ops.run_pending()
    crashed = row(op.id)
    assert crashed.status == "running" and crashed.attempts == 1
    assert crashed.checkpoint == {"next": 3} and crashed.lease_owner

    assert ops.run_pending() == 0  # the lease still holds
    clock.advance(29)
    assert ops.run_pending() == 0
    clock.advance(2)
    assert ops.run_pending() == 1
    done = row(op.id)
    assert seen == [(1, {}), (2, {"next": 3})]
    assert done.status == "succeeded" and done.attempts == 2 and done.result == {"steps": 5}


def test_expired_lease_after_the_last_attempt_is_abandoned(ctx, clock):
    def handler(c: ops.OperationContext) -> None:
        raise Crash()

    ops.register_handler("t.crashy", handler)
    op = ops.submit("t.crashy", {}, max_attempts=1)
    with pytest.raises(Crash):
        ops.run_pending()
    clock.advance(31)
    assert ops.run_pending() == 1
    failed = row(op.id)
    assert failed.status == "failed" and error_of(failed)["category"] == "abandoned"


def test_a_runner_that_lost_its_lease_cannot_write(ctx, clock):
    ops.register_handler("t.fenced", lambda c: None)
    op = ops.submit("t.fenced", {})
    claimed_pair = ops.claim_next(["t.fenced"])
    assert claimed_pair is not None
    first_row, first_token = claimed_pair
    first = ops.OperationContext(ctx, ops.runtime(), first_row, first_token)
    first.save_checkpoint({"by": "first"})

    clock.advance(31)  # the first runner hangs past its lease
    claimed_pair = ops.claim_next(["t.fenced"])
    assert claimed_pair is not None
    second_row, second_token = claimed_pair
    assert second_row["attempts"] == 2 and second_row["checkpoint"] == {"by": "first"}

    with pytest.raises(ops.LeaseLost):
        first.save_checkpoint({"by": "first, late"})
    with pytest.raises(ops.LeaseLost):
        first.progress(5, 10)
    assert first.lease_lost
    assert row(op.id).checkpoint == {"by": "first"}
    assert row(op.id).lease_owner == second_token


def test_heartbeat_renews_the_lease_and_notices_when_it_is_lost(ctx, clock):
    rt = ops.runtime()
    rt.heartbeat_interval = 0.02
    ops.register_handler("t.beat", lambda c: None)
    op = ops.submit("t.beat", {})
    claimed_pair = ops.claim_next(["t.beat"])
    assert claimed_pair is not None
    claimed, token = claimed_pair
    context = ops.OperationContext(ctx, rt, claimed, token)
    beat = runner._Heartbeat(ctx, context)
    beat.start()
    try:
        clock.advance(10)
        wait_until(
            lambda: row(op.id).lease_expires_at == clock.now() + dt.timedelta(seconds=30),
            timeout=10,
            what="lease renewal",
        )
        # Another runner takes over (as after an expiry); the heartbeat must notice.
        db.session.execute(
            sa.update(Operation).where(Operation.id == op.id).values(lease_owner="someone-else")
        )
        db.session.commit()
        wait_until(lambda: context.lease_lost, timeout=10, what="lease loss noticed")
        with pytest.raises(ops.LeaseLost):
            context.progress(1, 2)
    finally:
        beat.stop()


def test_lease_lost_inside_the_handler_leaves_the_row_to_the_new_owner(ctx, clock):
    def handler(c: ops.OperationContext) -> None:
        db.session.execute(
            sa.update(Operation).where(Operation.id == c.id).values(lease_owner="usurper")
        )
        db.session.commit()
        c.progress(1, 2)  # raises LeaseLost

    ops.register_handler("t.usurped", handler)
    op = ops.submit("t.usurped", {})
    assert ops.run_pending() == 1
    after = row(op.id)
    assert after.status == "running" and after.lease_owner == "usurper"


# -- cancellation ------------------------------------------------------------------------------


def test_cancelling_a_pending_operation_ends_it_without_running(ctx):
    calls: list[str] = []
    ops.register_handler("t.never", lambda c: calls.append(c.id))
    op = ops.submit("t.never", {})
    client = ctx.test_client()
    response = client.post(f"/api/operations/{op.id}/cancel")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled" and body["cancel_requested"] is True
    assert ops.run_pending() == 0 and calls == []
    # Cancelling again is a no-op.
    assert client.post(f"/api/operations/{op.id}/cancel").get_json()["status"] == "cancelled"


def test_cancelling_a_running_operation_stops_it_at_its_next_check(app):
    stop_waiting = threading.Event()

    def handler(c: ops.OperationContext) -> None:
        step = 0
        while True:
            c.raise_if_cancelled()
            step += 1
            c.progress(step)
            stop_waiting.wait(0.01)

    with app.app_context():
        ops.register_handler("t.long", handler)
        op = ops.submit("t.long", {})

    def run() -> None:
        with app.app_context():
            ops.run_pending()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        client = app.test_client()
        wait_until(
            lambda: (client.get(f"/api/operations/{op.id}").get_json()["progress"] or {}).get(
                "done"
            ),
            what="the handler to make progress",
        )
        response = client.post(f"/api/operations/{op.id}/cancel", json={"reason": "not needed"})
        assert response.status_code == 200
        assert response.get_json()["status"] == "running"
        assert response.get_json()["cancel_requested"] is True
        wait_until(
            lambda: client.get(f"/api/operations/{op.id}").get_json()["status"] == "cancelled",
            what="cancelled",
        )
        error = client.get(f"/api/operations/{op.id}").get_json()["error"]
        assert error == {"message": "not needed", "category": "cancelled"}
    finally:
        stop_waiting.set()
        worker.join(30)
    assert not worker.is_alive()


def test_finished_operations_cannot_be_cancelled_but_failed_ones_can_be_retried(ctx, clock):
    attempts: list[int] = []

    def handler(c: ops.OperationContext) -> dict[str, Any]:
        attempts.append(c.attempt)
        if len(attempts) == 1:
            c.save_checkpoint({"next": 7})
            raise ops.PermanentFailure("upstream said no")
        return {"resumed_from": c.checkpoint["next"]}

    ops.register_handler("t.retryable", handler)
    op = ops.submit("t.retryable", {})
    ops.run_pending()
    client = ctx.test_client()
    conflict = client.post(f"/api/operations/{op.id}/cancel")
    assert conflict.status_code == 409 and conflict.mimetype == "application/problem+json"

    assert (
        client.post(f"/api/operations/{op.id}/retry", json={"max_attempts": 0}).status_code == 422
    )
    retried = client.post(f"/api/operations/{op.id}/retry", json={"max_attempts": 9})
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    assert retried.get_json()["attempts"] == 0 and retried.get_json()["max_attempts"] == 9
    ops.run_pending()
    done = row(op.id)
    assert done.status == "succeeded" and done.result == {"resumed_from": 7}
    assert client.post(f"/api/operations/{op.id}/retry").status_code == 409


# -- dedupe ------------------------------------------------------------------------------------


def test_dedupe_key_returns_the_unfinished_operation(ctx):
    ops.register_handler("t.dedupe", lambda c: None)
    first = ops.submit("t.dedupe", {"a": 1}, dedupe_key="export:42")
    again = ops.submit("t.dedupe", {"a": 2}, dedupe_key="export:42")
    other = ops.submit("t.dedupe", {}, dedupe_key="export:43")
    assert again.id == first.id and other.id != first.id
    ops.run_pending()
    # Finished: the key is free again.
    later = ops.submit("t.dedupe", {}, dedupe_key="export:42")
    assert later.id != first.id and later.status == "pending"


def test_concurrent_submits_with_one_dedupe_key_create_one_operation(app):
    with app.app_context():
        ops.register_handler("t.race", lambda c: None)
    barrier = threading.Barrier(5)
    ids: list[str] = []

    def submit() -> None:
        with app.app_context():
            barrier.wait()
            ids.append(ops.submit("t.race", {}, dedupe_key="same").id)

    threads = [threading.Thread(target=submit) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ids) == 5 and len(set(ids)) == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Operation)) == 1


# -- API ----------------------------------------------------------------------------------------


def test_list_filters_and_paginates(ctx, clock):
    ops.register_handler("t.a", lambda c: None)
    ops.register_handler("t.b", lambda c: None)
    ids = []
    for i in range(5):
        ids.append(ops.submit("t.a", {"i": i}, project="alpha").id)
        clock.advance(1)
    b = ops.submit("t.b", {}, project="beta")
    cancelled = ops.cancel_operation(ids[0])
    client = ctx.test_client()

    page = client.get("/api/operations?kind=t.a&limit=2&offset=1").get_json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [item["id"] for item in page["items"]] == [ids[3], ids[2]]  # newest first

    by_project = client.get("/api/operations?project=beta").get_json()
    assert [item["id"] for item in by_project["items"]] == [b.id]
    by_status = client.get("/api/operations?status=cancelled").get_json()
    assert [item["id"] for item in by_status["items"]] == [cancelled.id]

    bad = client.get("/api/operations?status=exploded")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "status"
    assert client.get("/api/operations?limit=0").status_code == 422


def test_unknown_operation_is_404(client):
    for response in (
        client.get("/api/operations/does-not-exist"),
        client.post("/api/operations/does-not-exist/cancel"),
        client.post("/api/operations/does-not-exist/retry"),
    ):
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_operations_are_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "/api/operations" in paths
    assert "/api/operations/{operation_id}/cancel" in paths


# -- CLI and wait_for --------------------------------------------------------------------------


def test_cli_runs_pending_operations_and_wait_for_sees_the_result(app):
    with app.app_context():
        ops.register_handler("t.cli", lambda c: {"by": "cli"})
        op = ops.submit("t.cli", {})
    result = app.test_cli_runner().invoke(args=["junction", "operations", "run"])
    assert result.exit_code == 0, result.output
    assert "ran 1 operation(s)" in result.output
    with app.app_context():
        done = ops.wait_for(op.id, timeout=5)
        assert done.status == "succeeded" and done.result == {"by": "cli"}
    shown = app.test_cli_runner().invoke(args=["junction", "operations", "show", op.id])
    assert json.loads(shown.output)["result"] == {"by": "cli"}


# -- WebSocket ---------------------------------------------------------------------------------


@pytest.fixture
def live_server(app: Flask):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_websocket_sends_state_then_updates_then_closes(app, live_server):
    import websocket

    gate = threading.Event()

    def handler(c: ops.OperationContext) -> str:
        for step in range(1, 4):
            c.progress(step, 3)
        gate.wait(10)
        return "done"

    with app.app_context():
        ops.register_handler("t.ws", handler)
        op = ops.submit("t.ws", {})

    ws = websocket.create_connection(f"ws://{live_server}/ws/operations/{op.id}", timeout=10)
    first = json.loads(ws.recv())
    assert first["type"] == "operation.snapshot" and first["data"]["status"] == "pending"

    def run() -> None:
        with app.app_context():
            ops.run_pending()

    worker = threading.Thread(target=run)
    worker.start()
    messages = []
    try:
        while True:
            raw = ws.recv()
            if not raw:
                break
            message = json.loads(raw)
            messages.append(message)
            if message["data"]["progress"].get("done") == 3:
                gate.set()
    finally:
        gate.set()
        worker.join(30)
        ws.close()
    assert messages[-1]["type"] == "operation.succeeded"
    assert messages[-1]["data"]["result"] == "done"
    assert any(m["data"]["progress"].get("done") for m in messages[:-1])
    assert all(m["type"].startswith("operation.") for m in messages)


def test_websocket_for_an_unknown_operation_or_foreign_origin_is_refused(app, live_server):
    import websocket

    with pytest.raises(websocket.WebSocketBadStatusException) as missing:
        websocket.create_connection(f"ws://{live_server}/ws/operations/nope", timeout=10)
    assert missing.value.status_code == 404
    with app.app_context():
        ops.register_handler("t.origin", lambda c: None)
        op = ops.submit("t.origin", {})
    with pytest.raises(websocket.WebSocketBadStatusException) as foreign:
        websocket.create_connection(
            f"ws://{live_server}/ws/operations/{op.id}",
            timeout=10,
            origin="https://evil.example",
        )
    assert foreign.value.status_code == 403


def test_http_errors_are_retried_or_failed_by_category(ctx, clock):
    http = pytest.importorskip("app.http")

    def rate_limited(c: ops.OperationContext) -> None:
        raise http.HttpError("rate_limited", 429, "slow down", retry_after=45)

    def unauthorised(c: ops.OperationContext) -> None:
        raise http.HttpError("auth", 401, "token rejected")

    ops.register_handler("t.http429", rate_limited)
    ops.register_handler("t.http401", unauthorised)
    limited = ops.submit("t.http429", {})
    denied = ops.submit("t.http401", {})
    assert ops.run_pending() == 2
    assert row(limited.id).status == "pending"
    assert error_of(row(limited.id))["category"] == "rate_limited"
    assert row(limited.id).next_attempt_at == T0 + dt.timedelta(seconds=45)
    assert (row(denied.id).status, error_of(row(denied.id))["category"]) == ("failed", "auth")


def test_scheduler_job_runs_operations_in_the_background_without_blocking(app):
    release = threading.Event()

    def handler(c: ops.OperationContext) -> str:
        release.wait(30)
        return "done"

    with app.app_context():
        ops.register_handler("t.background", handler)
        op = ops.submit("t.background", {})
        assert ops.runner_job() == 1  # returns while the handler is still blocked
        wait_until(lambda: row(op.id).status == "running", what="running in the background")
        ops.runtime().runner_threads = 1
        assert ops.runner_job() == 0  # the one thread is busy
        release.set()
        assert ops.wait_for(op.id, timeout=20).status == "succeeded"
        wait_until(
            lambda: ops.runner_job() == 0 and not any(t.is_alive() for t in ops.runtime().threads),
            what="runner thread done",
        )


def test_a_waiting_request_is_woken_when_this_process_records_the_outcome(app):
    """``wait_for`` answers when a runner of its own process finishes the operation, not at
    its next poll: with a poll interval longer than the wait, only the wake-up can make the
    operation be seen finished in time."""
    release = threading.Event()

    def handler(c: ops.OperationContext) -> str:
        release.wait(30)
        return "done"

    with app.app_context():
        ops.register_handler("t.woken", handler)
        ops.runtime().poll_interval = 3600.0
        op = ops.submit("t.woken", {})
        assert ops.runner_job() == 1
        wait_until(lambda: row(op.id).status == "running", what="running in the background")
        seen = ops.runtime().settled_count
        threading.Timer(0.05, release.set).start()
        began = time.monotonic()
        assert ops.wait_for(op.id, timeout=60).status == "succeeded"
        # Polling alone would have slept through the whole minute before looking again.
        assert time.monotonic() - began < 30
        assert ops.runtime().settled_count > seen


def test_work_handed_over_as_the_busy_runner_finds_nothing_due_is_still_run(app, monkeypatch):
    """The hand-over race: the only runner thread has just found nothing due and is about to
    exit when another operation is submitted; ``runner_job`` sees it alive and starts no
    thread. The thread must look again instead of leaving the work to the scheduler's next
    tick (there is no scheduler here, so without the second look it would never run)."""
    in_window, go = threading.Event(), threading.Event()
    real_claim = runner.claim_next
    paused: list[bool] = []

    def claim_next(kinds: list[str]) -> Any:
        found = real_claim(kinds)
        if found is None and not paused:
            paused.append(True)
            in_window.set()  # the thread found nothing due: hold it just before it exits
            go.wait(30)
        return found

    monkeypatch.setattr(runner, "claim_next", claim_next)
    with app.app_context():
        ops.register_handler("t.handover", lambda c: "done")
        ops.runtime().runner_threads = 1
        first = ops.submit("t.handover", {})
        assert ops.runner_job() == 1
        assert in_window.wait(30)
        second = ops.submit("t.handover", {})
        assert ops.runner_job() == 0  # the one runner thread is still alive
        go.set()
        assert ops.wait_for(first.id, timeout=20).status == "succeeded"
        assert ops.wait_for(second.id, timeout=20).status == "succeeded"
        wait_until(lambda: not ops.runtime().threads, what="the runner thread left")


def test_the_runner_is_registered_as_a_core_scheduler_job(app):
    from app import scheduler

    jobs = {job.id: job for job in scheduler.core_jobs()}
    assert jobs["operations.runner"].func is ops.runner_job
    assert jobs["operations.runner"].seconds == 1


def test_cli_submit_list_and_cancel(app):
    with app.app_context():
        ops.register_handler("t.cli2", lambda c: None)
    runner_cli = app.test_cli_runner()
    submitted = runner_cli.invoke(
        args=["junction", "operations", "submit", "t.cli2", "--params", '{"x": 1}']
    )
    assert submitted.exit_code == 0, submitted.output
    op_id = submitted.output.strip()
    listed = runner_cli.invoke(args=["junction", "operations", "list", "--status", "pending"])
    assert op_id in listed.output and "(1 of 1)" in listed.output
    cancelled = runner_cli.invoke(args=["junction", "operations", "cancel", op_id])
    assert f"{op_id} cancelled" in cancelled.output
    with app.app_context():
        assert row(op_id).params == {"x": 1}


def test_classify_knows_the_cores_own_error_types() -> None:
    """``app.http`` errors keep their category (retryable per category, with Retry-After);
    connection failures and timeouts of ``requests`` are temporary; the rest is internal."""
    import requests

    from app.http import HttpAuthError, HttpRateLimited, HttpTemporaryError
    from app.operations.runner import classify

    assert classify(HttpRateLimited(None, 429, "slow down", retry_after=7.0)) == (
        True,
        "rate_limited",
        7.0,
    )
    assert classify(HttpTemporaryError(None, 503, "down")) == (True, "temporary", None)
    assert classify(HttpAuthError(None, 401, "no")) == (False, "auth", None)
    assert classify(requests.ConnectionError("refused")) == (True, "temporary", None)
    assert classify(requests.Timeout("slow")) == (True, "temporary", None)
    assert classify(ValueError("bug")) == (False, "internal", None)
