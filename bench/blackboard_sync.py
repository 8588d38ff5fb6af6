"""Blackboard sync publish on gunicorn: a 3-agent chain through ``POST /api/v1/artifacts/sync``.

Figures, all from this one run:

- p50/p99 latency of one sync call (publish, three agents on the operation runners, answer),
  sequential, against calling the same three agent functions directly in this process — the
  ratio is what the blackboard costs (durable rows, operations, events) per cascade;
- sync publishes per second with 20 concurrent clients.

SQLite in a temporary folder by default; ``--database-url`` (PostgreSQL) and ``--redis-url``
run it on the real engines. ``python bench/blackboard_sync.py [--requests 200]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BIN, ROOT, gunicorn, percentile, table
from bench.blackboard_app import analyse, criticise, design

BODY: dict[str, Any] = {"type": "task", "payload": {"text": "make the board fast and correct"}}


def direct(count: int) -> list[float]:
    """Latencies of calling the three agent functions in a row."""
    out = []
    for _ in range(count):
        began = time.perf_counter()
        criticise(design(analyse(BODY["payload"])))
        out.append(time.perf_counter() - began)
    return out


def one_sync(session: requests.Session, url: str) -> float:
    """One sync call; its latency (fails loudly on a wrong answer)."""
    began = time.perf_counter()
    response = session.post(url + "/api/v1/artifacts/sync", json=BODY, timeout=60)
    elapsed = time.perf_counter() - began
    body = response.json()
    if response.status_code != 200 or not body["completed"] or len(body["artifacts"]) != 4:
        raise RuntimeError(f"unexpected answer {response.status_code}: {body}")
    return elapsed


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        instance = tmp / "instance"
        instance.mkdir()
        url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        env = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_LOG_LEVEL": "warning",
        }
        if args.redis_url:
            env["JUNCTION_REDIS_URL"] = args.redis_url
        subprocess.run(
            [str(BIN / "flask"), "--app", "bench.blackboard_app", "junction", "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ, **env, "JUNCTION_SCHEDULER": "off"},
            check=True,
            capture_output=True,
        )
        with gunicorn(
            "bench.blackboard_app:app", env, tmp / "gunicorn.log", workers=2, threads=8
        ) as base:
            session = requests.Session()
            for _ in range(10):  # warm-up: connections, caches
                one_sync(session, base)
            sequential = [one_sync(session, base) for _ in range(args.requests)]
            baseline = direct(args.requests)

            sessions = [requests.Session() for _ in range(args.concurrency)]
            total = args.requests
            began = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                loaded = list(
                    pool.map(lambda i: one_sync(sessions[i % args.concurrency], base), range(total))
                )
            wall = time.perf_counter() - began

    def ms(value: float) -> str:
        return f"{value * 1000:.3f}"

    rows = [
        ["scenario", "n", "p50 ms", "p99 ms"],
        [
            "direct: 3 agent functions",
            str(len(baseline)),
            ms(percentile(baseline, 50)),
            ms(percentile(baseline, 99)),
        ],
        [
            "sync publish, sequential",
            str(len(sequential)),
            ms(percentile(sequential, 50)),
            ms(percentile(sequential, 99)),
        ],
        [
            f"sync publish, {args.concurrency} clients",
            str(len(loaded)),
            ms(percentile(loaded, 50)),
            ms(percentile(loaded, 99)),
        ],
    ]
    print(table(rows))
    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(
        f"\nengine: {engine}{' + Redis' if args.redis_url else ''}; gunicorn 2 workers x 8 threads"
    )
    print(f"sync p50 / direct p50: {percentile(sequential, 50) / percentile(baseline, 50):,.0f}x")
    print(f"sync publishes/s with {args.concurrency} clients: {len(loaded) / wall:.1f}")


if __name__ == "__main__":
    main()
