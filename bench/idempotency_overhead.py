"""What an ``Idempotency-Key`` costs: the same POST with and without a key, on real gunicorn.

Starts gunicorn (2 workers) on loopback against a freshly migrated database (SQLite in a
temporary folder unless ``--database-url`` names an empty database), registers one project,
then sends ``POST /api/projects/<p>/features`` with the same body, alternating requests without
a key and with a new key each (so every keyed request executes: claim + view + store), and
finally the same keyed request repeated (replays). Prints p50/p99 latencies and the ratios
against the keyless baseline of the same run.

    .venv/bin/python bench/idempotency_overhead.py [--requests 400] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def _start(env: dict[str, str], log_path: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log_path}")
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.1)  # polling a server that is starting; not a benchmark measurement
    process.terminate()
    raise SystemExit(f"gunicorn did not become ready; see {log_path}")


def _timed(session: requests.Session, url: str, body: dict, headers: dict, expect: int) -> float:
    started = time.perf_counter()
    response = session.post(url, json=body, headers=headers, timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code != expect:
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")
    return elapsed


def _row(name: str, samples: list[float], base: list[float] | None) -> str:
    p50, p99 = _percentile(samples, 50) * 1000, _percentile(samples, 99) * 1000
    text = f"{name:<24} n={len(samples):<5} p50={p50:7.2f} ms  p99={p99:7.2f} ms"
    if base is not None:
        text += (
            f"  ratio p50={p50 / (_percentile(base, 50) * 1000):.2f}"
            f" p99={p99 / (_percentile(base, 99) * 1000):.2f}"
        )
    return text + f"  mean={statistics.fmean(samples) * 1000:.2f} ms"


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per variant")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", help="an EMPTY database to migrate and use")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="junction-bench-") as tmp:
        base = Path(tmp)
        instance, checkout = base / "instance", base / "checkout"
        instance.mkdir()
        checkout.mkdir()
        url = args.database_url or f"sqlite:///{base / 'bench.db'}"
        env = {
            **os.environ,
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
            "JUNCTION_ACCESS_LOG": os.devnull,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "junction", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        process, server = _start(env, base / "gunicorn.log", args.workers)
        try:
            session = requests.Session()
            project = {"name": "bench", "path": str(checkout)}
            _timed(session, server + "/api/projects", project, {}, 201)
            target = server + "/api/projects/bench/features"
            body = {"name": "benchmark feature", "description": "x" * 200, "steps": ["a", "b"]}

            for _ in range(args.warmup):
                _timed(session, target, body, {}, 201)
                _timed(session, target, body, {"Idempotency-Key": str(uuid.uuid4())}, 201)

            plain: list[float] = []
            keyed: list[float] = []
            # Alternate the two variants so drift (caches, WAL growth) hits both alike.
            for _ in range(args.requests):
                plain.append(_timed(session, target, body, {}, 201))
                keyed.append(
                    _timed(session, target, body, {"Idempotency-Key": str(uuid.uuid4())}, 201)
                )
            replay_key = {"Idempotency-Key": str(uuid.uuid4())}
            _timed(session, target, body, replay_key, 201)
            replays = [_timed(session, target, body, replay_key, 201) for _ in range(args.requests)]
        finally:
            process.terminate()
            process.wait(30)

    dialect = url.split(":", 1)[0]
    print(f"idempotency overhead: gunicorn {args.workers} workers, {dialect}, sequential client")
    print(_row("POST without key", plain, None))
    print(_row("POST with new key", keyed, plain))
    print(_row("POST replayed key", replays, plain))


if __name__ == "__main__":
    main()
