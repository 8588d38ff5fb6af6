"""Exactly one process runs the scheduled jobs; a standby takes over when the leader dies.

Real gunicorn with three workers serves ``tests.e2e.sched_wsgi`` (Junction plus the
``schedprobe`` plugin, whose job appends its pid to a file every 0.25 s). On SQLite the lock
is ``flock`` on ``<instance>/scheduler.lock``; with ``JUNCTION_TEST_DATABASE_URL`` it is a
PostgreSQL advisory lock.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.fixture_plugins.scheduler_probe import INTERVAL_ENV, RUNS_FILE_ENV, read_runs
from tests.support import (
    ROOT,
    VENV_BIN,
    Gunicorn,
    fresh_database,
    migrate_database,
    pg_server_url,
    wait_until,
)

pytestmark = pytest.mark.e2e

ROLE = re.compile(r"^(leader|standby) \(pid (\d+)")


def runs_after(path: Path, mark: int) -> list[tuple[int, float]]:
    """Runs recorded after the first ``mark`` lines."""
    return read_runs(path)[mark:]


def at_least(path: Path, count: int, mark: int = 0):
    """A predicate: the runs after ``mark`` once there are ``count`` of them, else ``None``."""

    def check() -> list[tuple[int, float]] | None:
        found = runs_after(path, mark)
        return found if len(found) >= count else None

    return check


def test_one_gunicorn_worker_runs_the_jobs_and_another_takes_over_after_sigkill(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    runs = tmp_path / "runs.txt"
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "on",
            "JUNCTION_LOG_LEVEL": "warning",
            "JUNCTION_ACCESS_LOG": "/dev/null",
            RUNS_FILE_ENV: str(runs),
            INTERVAL_ENV: "0.25",
        }
        with Gunicorn(env, workers=3, threads=2, app="tests.e2e.sched_wsgi:app") as server:
            server.start(tmp_path / "gunicorn.log")
            wait_until(lambda: len(server.worker_pids()) == 3, timeout=10, what="3 workers")

            # Two seconds of runs: every one from the same worker.
            before = wait_until(at_least(runs, 8), timeout=15, what="runs")
            runners = {pid for pid, _ in before}
            assert len(runners) == 1, f"runs from several pids: {before}"
            leader = runners.pop()
            assert leader in server.worker_pids()
            if not pg_server_url():
                assert (instance / "scheduler.lock").read_text().strip() == str(leader)

            # /readyz names the role of whichever worker answers; a leader is always ours.
            for _ in range(6):
                detail = requests.get(server.url + "/readyz", timeout=5).json()["checks"][
                    "scheduler"
                ]["detail"]
                role = ROLE.match(detail)
                assert role, detail
                assert (role.group(1) == "leader") == (int(role.group(2)) == leader), detail

            mark = len(read_runs(runs))
            os.kill(leader, signal.SIGKILL)
            killed_at = time.time()

            def successor_run():
                fresh = [run for run in runs_after(runs, mark) if run[0] != leader]
                return fresh[0] if fresh else None

            successor, first_at = wait_until(successor_run, timeout=5, what="a new leader")
            assert first_at - killed_at < 5

            # Exactly one runner again: the next runs all come from the successor.
            start = next(i for i, run in enumerate(runs_after(runs, mark)) if run[0] == successor)
            after = wait_until(
                at_least(runs, 5, mark + start),
                timeout=10,
                what="runs after the takeover",
            )
            assert {pid for pid, _ in after} == {successor}, after
            assert successor in server.worker_pids()


def test_flask_junction_worker_leads_and_stops_cleanly_on_sigterm(tmp_path, database_url):
    instance = tmp_path / "instance"
    instance.mkdir()
    runs = tmp_path / "runs.txt"
    env = {
        **os.environ,
        "JUNCTION_DATABASE_URL": database_url,
        "JUNCTION_INSTANCE_PATH": str(instance),
        "JUNCTION_SCHEDULER": "auto",  # auto participates in `flask junction worker`
        "JUNCTION_LOG_LEVEL": "warning",
        RUNS_FILE_ENV: str(runs),
        INTERVAL_ENV: "0.1",
    }
    process = subprocess.Popen(
        [str(VENV_BIN / "flask"), "--app", "tests.e2e.sched_wsgi", "junction", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: len(read_runs(runs)) >= 3, timeout=20, what="the worker's runs")
        assert {pid for pid, _ in read_runs(runs)} == {process.pid}
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "scheduler worker stopping" in output
