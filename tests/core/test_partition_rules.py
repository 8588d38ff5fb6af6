"""The rules that make Junction survive a partition, checked without a network: the lease's local
deadline, the election's server-side settings and fence, the URL passed to libpq unchanged,
runners on every participating process, and one log line per change of a Redis link.
(``tests/partition/`` cuts real links.)"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from flask import Flask

from app import operations as ops
from app import scheduler
from app.db import engine_options, libpq_conninfo
from app.redislink import LinkHealth
from app.scheduler.election import (
    LeaderElection,
    PgAdvisoryElector,
    fence_seconds,
    peer_timeout,
)
from app.scheduler.service import SchedulerService
from app.testing import FakeClock
from tests.support import pg_server_url, wait_until

OPTIONS_URL = (
    "postgresql+psycopg://u:p%40ss@db.internal:5433/junction?options=-c%20tcp_keepalives_idle%3D12"
)


@pytest.fixture
def app(make_app: Callable[..., Flask], junction_clock: FakeClock) -> Flask:
    app = make_app({"JUNCTION_OPERATION_LEASE_SECONDS": 30})
    rt = ops.runtime(app)
    rt.now = junction_clock.now
    rt.monotonic = junction_clock.monotonic
    return app


# -- the lease's local deadline ---------------------------------------------------------------


def test_past_the_local_deadline_the_lease_check_fails_before_the_next_call(app, junction_clock):
    calls: list[int] = []

    def handler(ctx: ops.OperationContext) -> str:
        for number in range(3):
            ctx.check_lease()
            calls.append(number)
            # No renewal lands (the heartbeat's first is 10 s of real time away): 25 s pass.
            junction_clock.advance(25)
        return "done"

    with app.app_context():
        ops.register_handler("t.deadline", handler)
        op = ops.submit("t.deadline", {})
        claimed_pair = ops.claim_next(["t.deadline"])
        assert claimed_pair is not None
        row, token = claimed_pair
        assert ops.run_claimed(row, token, handler) is None  # lease lost: nothing recorded
        assert calls == [0]  # 30 s lease less a 6 s margin: the second call never happens
        assert ops.get_operation(op.id).status == "running"  # left for the next owner


def test_a_renewal_moves_the_local_deadline(app, junction_clock):
    def handler(ctx: ops.OperationContext) -> int:
        junction_clock.advance(20)
        ctx.save_checkpoint({"step": 1})  # renews the lease: deadline now + 24 s
        junction_clock.advance(20)
        ctx.check_lease()  # 40 s after the claim, 20 s after the renewal: still ours
        assert not ctx.lease_lost
        return 1

    with app.app_context():
        ops.register_handler("t.renewed", handler)
        op = ops.submit("t.renewed", {})
        claimed_pair = ops.claim_next(["t.renewed"])
        assert claimed_pair is not None
        row, token = claimed_pair
        assert ops.run_claimed(row, token, handler) == "succeeded"
        assert ops.get_operation(op.id).result == 1


def test_operation_runners_off_never_start_a_runner(make_app):
    app = make_app({"JUNCTION_OPERATION_RUNNERS": "off"})
    with app.app_context():
        ops.register_handler("t.off", lambda ctx: None)
        ops.submit("t.off", {})
        assert ops.runner_job() == 0


# -- runners do not depend on the leader ------------------------------------------------------


class NeverLeads:
    """An elector whose lock is always taken by someone else."""

    def try_acquire(self) -> bool:
        return False

    def confirm(self) -> bool:
        return False

    def release(self) -> None:
        pass

    def abandon(self) -> None:
        pass

    def describe(self) -> str:
        return "never"


def test_jobs_not_leader_only_run_on_a_standby(make_app):
    ran = threading.Event()
    scheduler.register_core_job(ran.set, seconds=0.05, id="test.everywhere", leader_only=False)
    try:
        service = SchedulerService(make_app(), "on", "test", elector=NeverLeads(), interval=0.05)
        service.start()
        try:
            wait_until(ran.is_set, timeout=10, what="the job on a standby")
            assert not service.is_leader()
        finally:
            service.stop()
    finally:
        scheduler.unregister_core_job("test.everywhere")


def test_the_operations_runner_runs_on_every_participating_process():
    jobs = {job.id: job for job in scheduler.core_jobs()}
    assert jobs["operations.runner"].leader_only is False


# -- the election's fence and the server's silence timeout ------------------------------------


@pytest.mark.parametrize("interval", [0.25, 1.0, 2.0])
def test_the_server_ends_a_silent_session_only_after_the_fence(interval):
    elector = PgAdvisoryElector("postgresql://x/y", peer_timeout_s=peer_timeout(interval))
    settings = {name: int(value) for name, value in elector.session_settings().items()}
    timeout = peer_timeout(interval)
    assert timeout >= fence_seconds(interval) + 5
    assert settings["idle_session_timeout"] >= timeout * 1000
    assert settings["tcp_user_timeout"] >= timeout * 1000
    keepalive = settings["tcp_keepalives_idle"] + (
        settings["tcp_keepalives_count"] * settings["tcp_keepalives_interval"]
    )
    assert keepalive >= timeout
    assert peer_timeout(1.0) <= 20  # a new leader well within 30 s of a silent cut


def test_the_fence_counts_from_when_the_check_was_sent():
    class SlowConfirm(NeverLeads):
        started: float = 0.0

        def try_acquire(self) -> bool:
            return True

        def confirm(self) -> bool:
            self.started = time.monotonic()
            time.sleep(0.05)  # a slow round trip
            return True

    elector = SlowConfirm()
    election = LeaderElection(elector)
    election.tick()
    election.tick()
    assert election.leading
    assert election.confirmed_at <= elector.started


# -- the database URL reaches libpq unchanged ---------------------------------------------------


def test_libpq_options_in_the_url_pass_through_unchanged():
    assert libpq_conninfo(OPTIONS_URL) == OPTIONS_URL.replace("postgresql+psycopg", "postgresql")
    assert (
        libpq_conninfo("postgres://h/d?options=-c%20a%3Db") == "postgresql://h/d?options=-c%20a%3Db"
    )
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = OPTIONS_URL
    elector = scheduler.elector_for(app)
    assert isinstance(elector, PgAdvisoryElector)
    assert "options=-c%20tcp_keepalives_idle%3D12" in elector.conninfo
    assert "+" not in elector.conninfo


def test_pool_connections_get_keepalives_unless_the_url_sets_them():
    args = engine_options("postgresql://h/d", False)["connect_args"]
    assert args["tcp_user_timeout"] == 10000 and args["keepalives"] == 1
    args = engine_options("postgresql://h/d?keepalives_idle=30", False)["connect_args"]
    assert "keepalives_idle" not in args and "tcp_user_timeout" in args


@pytest.mark.postgres
def test_the_election_connects_with_options_in_the_url_and_sets_its_timeouts():
    server = pg_server_url()
    if not server:
        pytest.skip("needs JUNCTION_TEST_DATABASE_URL")
    url = libpq_conninfo(server.split("?")[0]) + "?options=-c%20statement_timeout%3D12345"
    elector = PgAdvisoryElector(url, key=int(time.time() * 1000) & 0x7FFFFFFF, peer_timeout_s=9)
    try:
        assert elector.try_acquire()
        conn = elector._conn
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "12345ms"
        assert conn.execute("SHOW idle_session_timeout").fetchone()[0] == "9s"
    finally:
        elector.release()
    with psycopg.connect(url) as check:  # the same URL works for libpq directly
        assert check.execute("SELECT 1").fetchone() == (1,)


# -- Redis links: one line per change ----------------------------------------------------------


def test_link_health_logs_the_loss_once_and_the_recovery_once(caplog):
    health = LinkHealth(logging.getLogger("test.link"), "events", "polling meanwhile")
    with caplog.at_level(logging.INFO, logger="test.link"):
        for _ in range(5):
            health.failed(ConnectionError("cut"))
        assert health.ok() and not health.ok()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "Redis unavailable" in lines[0] and "polling meanwhile" in lines[0]
    assert "Redis is back" in lines[1]
