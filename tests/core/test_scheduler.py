"""The scheduler: job declarations, isolation, metrics, the participation rule and elections."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import current_app
from prometheus_client import REGISTRY

from app import scheduler
from app.hookspecs import hookimpl
from app.scheduler import (
    FileLockElector,
    JobRegistry,
    LeaderElection,
    PgAdvisoryElector,
    SchedulerService,
    list_jobs,
    participation,
    register_core_job,
    run_job_once,
    unregister_core_job,
)
from tests.support import pg_server_url, wait_until


def runs_metric(job: str, outcome: str) -> float:
    """The in-process value of ``junction_scheduler_job_runs_total{job,outcome}``."""
    value = REGISTRY.get_sample_value(
        "junction_scheduler_job_runs_total", {"job": job, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
def core_job_ids():
    """Ids registered through this fixture's list are unregistered after the test."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        unregister_core_job(job_id)


class JobsPlugin:
    """A plugin object declaring the given ``(id, func, seconds)`` jobs."""

    def __init__(self, *jobs: tuple[str, Any, float], fail_after: bool = False) -> None:
        self.jobs = jobs
        self.fail_after = fail_after

    @hookimpl
    def junction_jobs(self, scheduler):
        for job_id, func, seconds in self.jobs:
            scheduler.add(func, seconds=seconds, id=job_id)
        if self.fail_after:
            raise RuntimeError("cannot declare jobs")


def noop() -> None:
    """A job that does nothing."""


# -- declarations ------------------------------------------------------------------------------


def test_core_job_is_listed_and_redeclaring_replaces_it(make_app, core_job_ids):
    core_job_ids.append("test.cleanup")
    register_core_job(noop, seconds=60, id="test.cleanup")
    register_core_job(noop, seconds=5, id="test.cleanup", jitter=1)
    jobs = {job["id"]: job for job in list_jobs(make_app())}
    assert jobs["test.cleanup"]["owner"] == "core"
    assert jobs["test.cleanup"]["seconds"] == 5
    assert jobs["test.cleanup"]["func"].endswith(":noop")
    assert jobs["test.cleanup"]["next_run_time"] is None  # not leading: nothing scheduled


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"seconds": 0}, ValueError),
        ({"seconds": -1}, ValueError),
        ({"seconds": True}, ValueError),
        ({"seconds": 1, "trigger": "cron"}, TypeError),
        ({"seconds": 1, "id": ""}, ValueError),
    ],
)
def test_bad_declarations_are_refused(kwargs, error):
    with pytest.raises(error):
        register_core_job(noop, **{"id": "test.bad", **kwargs})
    assert "test.bad" not in {spec.id for spec in scheduler.core_jobs()}


def test_plugin_job_ids_are_prefixed_with_the_plugin_name(make_app):
    app = make_app(extra_plugins=[("alpha", JobsPlugin(("tick", noop, 2)))])
    jobs = {job["id"]: job for job in list_jobs(app)}
    assert jobs["alpha.tick"]["owner"] == "alpha"
    assert "tick" not in jobs


def test_registry_refuses_a_duplicate_id():
    registry = JobRegistry("alpha")
    assert registry.add(noop, seconds=1, id="tick") == "alpha.tick"
    with pytest.raises(ValueError, match="duplicate"):
        registry.add(noop, seconds=1, id="tick")


def test_a_failing_plugin_registration_is_isolated(make_app):
    app = make_app(
        extra_plugins=[
            ("alpha", JobsPlugin(("tick", noop, 2))),
            ("broken", JobsPlugin(("half", noop, 2), fail_after=True)),
        ]
    )
    ids = {job["id"] for job in list_jobs(app)}
    assert "alpha.tick" in ids
    assert "broken.half" not in ids  # declared before the hook raised: dropped with the plugin
    plugins = {item["name"]: item for item in app.extensions["junction"].registry.as_list()}
    assert plugins["broken"]["status"] == "failed"
    assert "junction_jobs" in plugins["broken"]["error"]
    assert plugins["alpha"]["status"] == "loaded"


# -- running -----------------------------------------------------------------------------------


def test_run_job_once_runs_in_an_app_context_and_counts(make_app, core_job_ids):
    seen: list[Any] = []
    core_job_ids.append("test.ctx")
    register_core_job(
        # Flask types current_app as the app; it is a LocalProxy, which has this method.
        lambda: seen.append(current_app._get_current_object()),  # type: ignore[attr-defined]
        seconds=1,
        id="test.ctx",
    )
    app = make_app()
    before = runs_metric("test.ctx", "success")

    run = run_job_once(app, "test.ctx")

    assert run.outcome == "success" and run.error is None
    assert seen == [app]
    assert runs_metric("test.ctx", "success") == before + 1
    count = REGISTRY.get_sample_value(
        "junction_scheduler_job_duration_seconds_count", {"job": "test.ctx"}
    )
    assert count and count >= 1


def test_a_failing_job_is_counted_as_error_and_does_not_raise(make_app, core_job_ids):
    def explode() -> None:
        raise RuntimeError("boom")

    core_job_ids.append("test.explode")
    register_core_job(explode, seconds=1, id="test.explode")
    app = make_app()
    before = runs_metric("test.explode", "error")

    run = run_job_once(app, "test.explode")

    assert run.outcome == "error"
    assert run.error == "RuntimeError: boom"
    assert runs_metric("test.explode", "error") == before + 1


def test_job_runs_appear_in_metrics_endpoint(make_app, core_job_ids):
    core_job_ids.append("test.visible")
    register_core_job(noop, seconds=1, id="test.visible")
    app = make_app()
    run_job_once(app, "test.visible")
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'junction_scheduler_job_runs_total{job="test.visible",outcome="success"}' in text


def test_run_job_once_refuses_an_unknown_id(make_app):
    with pytest.raises(KeyError):
        run_job_once(make_app(), "nope.nothing")


def test_cli_lists_and_runs_jobs(make_app, core_job_ids):
    ran: list[int] = []
    core_job_ids.append("test.cli")
    register_core_job(lambda: ran.append(1), seconds=3, id="test.cli")
    app = make_app(extra_plugins=[("alpha", JobsPlugin(("tick", noop, 2)))])
    runner = app.test_cli_runner()

    listing = runner.invoke(args=["junction", "jobs"])
    assert listing.exit_code == 0, listing.output
    assert "test.cli" in listing.output and "alpha.tick" in listing.output

    result = runner.invoke(args=["junction", "jobs", "run", "test.cli"])
    assert result.exit_code == 0, result.output
    assert "test.cli: success" in result.output
    assert ran == [1]

    missing = runner.invoke(args=["junction", "jobs", "run", "nope"])
    assert missing.exit_code != 0
    assert "no job 'nope'" in missing.output


def test_worker_command_refuses_when_scheduler_is_off(make_app):
    result = make_app().test_cli_runner().invoke(args=["junction", "worker"])
    assert result.exit_code != 0
    assert "JUNCTION_SCHEDULER=off" in result.output


def test_readyz_shows_the_scheduler_role_off(client):
    checks = client.get("/readyz").get_json()["checks"]
    assert (checks["scheduler"]["status"], checks["scheduler"]["detail"]) == ("ok", "off")


# -- participation rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "argv", "environ", "modules", "expected"),
    [
        ("off", ["gunicorn"], {}, {"gunicorn.arbiter": 1}, False),
        ("on", ["flask", "junction", "db", "upgrade"], {}, {}, True),
        ("auto", ["/v/bin/gunicorn", "wsgi:app"], {}, {"gunicorn.arbiter": 1}, True),
        ("auto", ["uwsgi"], {}, {"uwsgi": 1}, True),
        ("auto", ["/v/bin/flask", "--app", "wsgi", "run"], {}, {}, True),
        ("auto", ["/v/bin/flask", "--app", "wsgi", "junction", "worker"], {}, {}, True),
        ("auto", ["/v/bin/flask", "-A", "wsgi", "junction", "db", "upgrade"], {}, {}, False),
        ("auto", ["/v/bin/flask", "--app", "wsgi", "junction", "jobs", "run", "x"], {}, {}, False),
        ("auto", ["/v/bin/flask", "--app", "wsgi", "shell"], {}, {}, False),
        ("auto", ["/v/bin/flask", "--app", "wsgi", "run", "--debug"], {}, {}, False),
        (
            "auto",
            ["/v/bin/flask", "--app", "wsgi", "run", "--debug"],
            {"WERKZEUG_RUN_MAIN": "true"},
            {},
            True,
        ),
        ("auto", ["/v/bin/flask", "run"], {"FLASK_DEBUG": "1"}, {}, False),
        ("auto", ["/usr/lib/python3/site-packages/flask/__main__.py", "run"], {}, {}, True),
        ("auto", ["/v/bin/pytest", "-q"], {}, {}, False),
        # The `junction` console script serves the junction group at its top level.
        ("auto", ["/v/bin/junction", "worker"], {}, {}, True),
        ("auto", ["/v/bin/junction", "--app", "wsgi", "worker"], {}, {}, True),
        ("auto", ["/v/bin/junction", "db", "upgrade"], {}, {}, False),
        ("auto", ["/v/bin/junction", "jobs", "run", "x"], {}, {}, False),
        ("auto", ["/v/bin/junction", "run"], {}, {}, True),
        ("auto", ["/v/bin/junction", "shell"], {}, {}, False),
        ("auto", ["-c"], {}, {}, False),
    ],
)
def test_participation_rule(mode, argv, environ, modules, expected):
    participate, reason = participation(mode, argv, environ, modules)
    assert participate is expected, reason
    assert reason


# -- elections ---------------------------------------------------------------------------------


def test_file_lock_admits_one_leader_and_hands_over_on_release(tmp_path):
    lock = tmp_path / "scheduler.lock"
    first, second = LeaderElection(FileLockElector(lock)), LeaderElection(FileLockElector(lock))

    first.tick()
    second.tick()
    assert (first.leading, second.leading) == (True, False)
    assert lock.read_text().strip() == str(os.getpid())
    second.tick()
    assert not second.leading  # still held: a standby never takes it over while held

    first.stop()
    assert not first.leading
    second.tick()
    assert second.leading
    first.tick()
    assert not first.leading
    second.stop()


def test_file_lock_leader_steps_down_when_its_lock_file_is_replaced(tmp_path):
    lock = tmp_path / "scheduler.lock"
    deposed: list[bool] = []
    election = LeaderElection(FileLockElector(lock), on_deposed=lambda: deposed.append(True))
    election.tick()
    assert election.leading
    lock.unlink()  # someone else could now lock a new file at this path

    election.tick()

    assert not election.leading and deposed == [True]
    election.stop()


def test_threaded_elections_fail_over_within_an_interval(tmp_path):
    lock = tmp_path / "scheduler.lock"
    elections = [LeaderElection(FileLockElector(lock), interval=0.05) for _ in range(3)]
    for election in elections:
        election.start()
    try:
        leader = wait_until(lambda: [e for e in elections if e.leading], timeout=5, what="a leader")
        assert len(leader) == 1
        leader[0].stop()
        rest = [e for e in elections if e is not leader[0]]
        successor = wait_until(lambda: [e for e in rest if e.leading], timeout=5, what="takeover")
        assert len(successor) == 1
        assert sum(e.leading for e in elections) == 1
    finally:
        for election in elections:
            election.stop()


def test_a_backend_error_leaves_the_process_standby():
    class Unreachable:
        def try_acquire(self) -> bool:
            raise ConnectionError("no route")

        def confirm(self) -> bool:
            return False

        def release(self) -> None:
            pass

        def abandon(self) -> None:
            pass

        def describe(self) -> str:
            return "advisory lock"

    election = LeaderElection(Unreachable())
    election.tick()
    assert not election.leading
    assert election.last_error == "ConnectionError"


# -- the service: one app leads, its scheduler runs the jobs -----------------------------------


def test_two_apps_one_leader_runs_the_jobs_then_the_other_takes_over(make_app, tmp_path):
    runs: list[str] = []

    def make(name: str) -> Any:
        def tick() -> None:
            runs.append(name)

        app = make_app(
            extra_plugins=[("probe", JobsPlugin(("tick", tick, 0.05)))], instance_path=tmp_path
        )
        service = SchedulerService(app, "on", "test", interval=0.05)
        service.plugin_jobs = scheduler.collect_plugin_jobs(app)
        app.extensions["junction"].set_service(SchedulerService, service)
        app.extensions["junction"].core_checks["scheduler"] = service.role
        return app, service

    (_, service_a), (_, service_b) = make("a"), make("b")
    service_a.start()
    service_b.start()
    try:
        wait_until(lambda: service_a.is_leader() or service_b.is_leader(), timeout=5)
        leader, other = (service_a, service_b) if service_a.is_leader() else (service_b, service_a)
        leader_name = "a" if leader is service_a else "b"
        wait_until(lambda: runs.count(leader_name) >= 3, timeout=5, what="leader's runs")
        assert set(runs) == {leader_name}
        assert not other.is_leader()
        check = leader.app.test_client().get("/readyz").get_json()["checks"]["scheduler"]
        assert (check["status"], check["detail"]) == ("ok", f"leader (pid {os.getpid()})")
        assert other.role() == f"standby (pid {os.getpid()})"
        assert scheduler.list_jobs(leader.app)[-1]["next_run_time"] is not None

        leader.stop(wait=True)
        mark = len(runs)
        wait_until(other.is_leader, timeout=5, what="takeover")
        other_name = "b" if leader_name == "a" else "a"
        wait_until(lambda: runs[mark:].count(other_name) >= 3, timeout=5, what="new runs")
        assert set(runs[mark:]) == {other_name}
    finally:
        service_a.stop()
        service_b.stop()


# -- PostgreSQL advisory lock --------------------------------------------------------------------


def _conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def pg_conninfo(database_url: str) -> str:
    if not pg_server_url():
        pytest.skip("needs JUNCTION_TEST_DATABASE_URL (PostgreSQL advisory locks)")
    return _conninfo(database_url)


@pytest.mark.postgres
def test_advisory_lock_admits_one_leader_and_hands_over_on_release(pg_conninfo):
    key = random.getrandbits(62)
    first = LeaderElection(PgAdvisoryElector(pg_conninfo, key))
    second = LeaderElection(PgAdvisoryElector(pg_conninfo, key))
    try:
        first.tick()
        second.tick()
        assert (first.leading, second.leading) == (True, False)
        first.tick()
        assert first.leading  # the keep-alive check passes while the connection lives

        first.stop()
        second.tick()
        assert second.leading
    finally:
        first.stop()
        second.stop()


@pytest.mark.postgres
def test_advisory_lock_leader_steps_down_when_its_connection_dies(pg_conninfo):
    import psycopg

    key = random.getrandbits(62)
    deposed: list[int] = []
    first = LeaderElection(
        PgAdvisoryElector(pg_conninfo, key), on_deposed=lambda: deposed.append(1)
    )
    second = LeaderElection(PgAdvisoryElector(pg_conninfo, key))
    try:
        first.tick()
        assert first.leading
        # Kill the session holding the lock, as a network cut or a server restart would.
        with psycopg.connect(pg_conninfo, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND granted AND classid = %s AND objid = %s AND objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            ).fetchall()
        assert killed == [(True,)]

        def second_leads() -> bool:
            second.tick()
            return second.leading

        wait_until(second_leads, timeout=5, what="lock freed")
        first.tick()
        assert not first.leading and deposed == [1]
        first.tick()  # reconnects, finds the lock taken: standby
        assert not first.leading and second.leading
    finally:
        first.stop()
        second.stop()


def test_elector_for_picks_the_backend(make_app, database_url):
    elector = scheduler.elector_for(make_app())
    if pg_server_url():
        assert isinstance(elector, PgAdvisoryElector)
        assert "+psycopg" not in elector.conninfo
    else:
        assert isinstance(elector, FileLockElector)
        assert elector.path.name == "scheduler.lock"
        assert Path(elector.path).parent == Path(make_app().instance_path)
