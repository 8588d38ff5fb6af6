"""Agent runs with plan approval through the API on real gunicorn (2 workers), against the
core operations' own no-op throughput measured in the same run.

Starts gunicorn (2 workers x 4 threads, scheduler on: every worker runs operations) on a
freshly migrated database (SQLite in a temporary folder unless ``--database-url`` names an
empty one). Baseline: ``--runs x 2`` no-op operations submitted at once (a run is two
operations: planning, then execution after the decision); operations/s until all succeeded.
Agents: one ``echo`` task (3 steps, approval required), ``--runs`` runs created through the
API, each approved as soon as it awaits approval; runs/s from the first POST to the last
completion, and the time from approval to completion (the run's ``decided_at`` →
``finished_at``, both stamped by the server) at p50/p99.

    .venv/bin/python bench/agents_runs.py [--runs 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, gunicorn, percentile

BIN = Path(sys.executable).parent
POLL = 0.05


def _migrate(env: dict[str, str]) -> None:
    import subprocess

    subprocess.run(
        [str(BIN / "flask"), "--app", "bench.agents_wsgi", "junction", "db", "upgrade"],
        cwd=ROOT,
        env={**env, "JUNCTION_SCHEDULER": "off"},
        check=True,
        capture_output=True,
    )


def _baseline(env: dict[str, str], count: int) -> float:
    """No-op operations/s: submit ``count`` at once, wait until every one succeeded."""
    os.environ.update(env)
    from app import create_app
    from app import operations as ops
    from app.db import db
    from app.operations.models import Operation
    from bench.agents_wsgi import NOOP_PLUGIN

    app = create_app({"JUNCTION_SCHEDULER": "off"}, extra_plugins=[NOOP_PLUGIN])
    with app.app_context():
        started = time.monotonic()
        ids = [ops.submit("benchnoop.noop", {}).id for _ in range(count)]
        while True:
            with db.engine.connect() as connection:
                done = connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(Operation)
                    .where(Operation.id.in_(ids), Operation.status == "succeeded")
                )
            if done == count:
                break
            time.sleep(POLL)
        elapsed = time.monotonic() - started
        db.engine.dispose()
    return count / elapsed


def _agents(url: str, count: int) -> tuple[float, list[float]]:
    """runs/s and approval→completion seconds of ``count`` echo runs with approval."""
    session = requests.Session()
    task = session.post(
        f"{url}/api/tasks/", json={"name": "bench", "config": {"steps": 3}}, timeout=10
    ).json()
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        run_ids = list(
            pool.map(
                lambda _: requests.post(
                    f"{url}/api/runs/", json={"task_id": task["id"]}, timeout=30
                ).json()["id"],
                range(count),
            )
        )
    pending, approved = set(run_ids), set()
    finished: dict[int, dict] = {}
    while len(finished) < count:
        page = session.get(
            f"{url}/api/runs/", params={"task_id": task["id"], "limit": 500}, timeout=30
        ).json()
        for run in page["items"]:
            if run["id"] in pending and run["phase"] == "awaiting_approval":
                answer = session.post(
                    f"{url}/api/runs/{run['id']}/approve", json={"approved": True}, timeout=30
                )
                assert answer.status_code == 200, answer.text
                pending.discard(run["id"])
                approved.add(run["id"])
            elif run["status"] in ("completed", "failed", "cancelled", "timeout"):
                assert run["status"] == "completed", run
                finished[run["id"]] = run
        time.sleep(POLL)
    elapsed = time.monotonic() - started
    latencies = [
        (
            dt.datetime.fromisoformat(r["finished_at"]) - dt.datetime.fromisoformat(r["decided_at"])
        ).total_seconds()
        for r in finished.values()
    ]
    return count / elapsed, latencies


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        url = args.database_url or f"sqlite:///{instance / 'junction.db'}"
        env = {
            **os.environ,
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "on",
            "JUNCTION_LOG_LEVEL": "warning",
        }
        _migrate(env)
        with gunicorn("bench.agents_wsgi:app", env, Path(tmp) / "gunicorn.log", workers=2) as base:
            ops_rate = _baseline(env, args.runs * 2)
            runs_rate, latencies = _agents(base, args.runs)
    print(f"database: {url.split(':')[0]}; gunicorn 2 workers x 4 threads; {args.runs} runs")
    print(f"baseline  no-op operations/s          {ops_rate:8.1f}")
    print(f"agents    runs/s (create -> complete) {runs_rate:8.1f}")
    print(
        f"          operations/s (2 per run)    {2 * runs_rate:8.1f}  "
        f"({2 * runs_rate / ops_rate:.2f}x the baseline)"
    )
    print(f"          approval -> completion p50  {percentile(latencies, 50) * 1000:8.0f} ms")
    print(f"          approval -> completion p99  {percentile(latencies, 99) * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
