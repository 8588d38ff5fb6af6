"""HTTP overhead of Junction against a bare Flask app, both under the same gunicorn settings.

Scenarios: ``GET /healthz`` and ``GET /api/projects?limit=50`` with 1,000 registered projects.
The bare app (``bench/bare_app.py``) returns the very bytes Junction returned, so the ratio is the
cost of Junction's request pipeline. Both servers run in the same invocation, on loopback, with a
fixed request count and a time limit per scenario.

    .venv/bin/python bench/http_overhead.py [--requests 2000] [--concurrency 4]

``JUNCTION_BENCH_DATABASE_URL`` runs Junction on that (empty, disposable) database instead of a
temporary SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BIN, ROOT, compare, gunicorn, round_ratios, table

PROJECTS = 1_000
LIMIT = 50
PROJECTS_PATH = f"/api/projects?limit={LIMIT}"


def migrate_and_seed(url: str, instance: Path, checkout: Path) -> None:
    """Upgrade the schema as an operator does, then insert the projects in one transaction."""
    env = {
        **os.environ,
        "JUNCTION_DATABASE_URL": url,
        "JUNCTION_INSTANCE_PATH": str(instance),
        "JUNCTION_SCHEDULER": "off",
        "JUNCTION_LOG_LEVEL": "warning",
    }
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "junction", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    from app import create_app
    from app.db import db
    from app.domain.models import Project

    app = create_app(
        {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
        },
        instance_path=instance,
    )
    with app.app_context():
        db.session.add_all(
            Project(name=f"project-{i:04d}", path=str(checkout), description=f"Project {i}")
            for i in range(PROJECTS)
        )
        db.session.commit()
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; exit 1 when a scenario saw errors."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests a scenario")
    parser.add_argument("--concurrency", type=int, default=4, help="client processes")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds a round")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="junction-bench-") as tmp_name:
        tmp = Path(tmp_name)
        instance, checkout, bodies = tmp / "instance", tmp / "checkout", tmp / "bodies"
        for folder in (instance, checkout, bodies):
            folder.mkdir()
        url = os.environ.get("JUNCTION_BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'bench.db'}"
        print(f"seeding {PROJECTS} projects ({url.split(':', 1)[0]}) ...", flush=True)
        migrate_and_seed(url, instance, checkout)

        junction_env = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
        }
        settings = {"workers": args.workers, "threads": args.threads}
        with gunicorn("wsgi:app", junction_env, tmp / "junction.log", **settings) as junction:
            expected = {
                "/healthz": requests.get(junction + "/healthz", timeout=10).content,
                PROJECTS_PATH: requests.get(junction + PROJECTS_PATH, timeout=10).content,
            }
            page = json.loads(expected[PROJECTS_PATH])
            assert page["total"] == PROJECTS and len(page["items"]) == LIMIT, page.keys()
            (bodies / "healthz.json").write_bytes(expected["/healthz"])
            (bodies / "projects.json").write_bytes(expected[PROJECTS_PATH])
            bare_env = {"BENCH_BODIES_DIR": str(bodies)}
            with gunicorn("bench.bare_app:app", bare_env, tmp / "bare.log", **settings) as bare:
                for path, body in expected.items():
                    assert requests.get(bare + path, timeout=10).content == body, path
                targets = {
                    f"{who} GET {path}": (base + path, body)
                    for path, body in expected.items()
                    for who, base in (("junction", junction), ("bare", bare))
                }
                measured = compare(
                    targets,
                    total=args.requests,
                    concurrency=args.concurrency,
                    time_limit=args.time_limit,
                    rounds=args.rounds,
                )
                results = {
                    path: (measured[f"junction GET {path}"], measured[f"bare GET {path}"])
                    for path in expected
                }

    rows = [["scenario", "requests", "errors", "req/s", "p50 ms", "p99 ms", "server CPU µs/req"]]
    ratios = [
        [
            "path",
            "req/s junction/bare",
            "p50 junction/bare",
            "p99 junction/bare",
            "CPU/req bare/junction",
            "median of rounds: req/s",
            "CPU",
        ]
    ]
    figures: dict[str, dict[str, float]] = {}
    for path, (ours, base) in results.items():
        for result in (ours, base):
            rows.append(
                [
                    result.name,
                    str(result.requests),
                    str(result.errors),
                    f"{result.rate:.0f}",
                    f"{result.percentile_ms(50):.2f}",
                    f"{result.percentile_ms(99):.2f}",
                    f"{result.cpu_per_request_us:.0f}",
                ]
            )
            figures[result.name] = {
                "requests": result.requests,
                "errors": result.errors,
                "rps": result.rate,
                "p50_ms": result.percentile_ms(50),
                "p99_ms": result.percentile_ms(99),
                "server_cpu_us_per_request": result.cpu_per_request_us,
            }
        rate_ratio, cpu_ratio = round_ratios(ours, base)
        figures[f"ratios {path}"] = {
            "rps_median_of_rounds": rate_ratio,
            "cpu_median_of_rounds": cpu_ratio,
        }
        ratios.append(
            [
                path,
                f"{ours.rate / base.rate:.2f}",
                f"{ours.percentile_ms(50) / base.percentile_ms(50):.2f}",
                f"{ours.percentile_ms(99) / base.percentile_ms(99):.2f}",
                _cpu_ratio(base.cpu_per_request_us, ours.cpu_per_request_us),
                f"{rate_ratio:.2f}",
                f"{cpu_ratio:.2f}",
            ]
        )
    print(
        f"\ngunicorn gthread, {args.workers} workers x {args.threads} threads; "
        f"{args.concurrency} keep-alive clients; {args.requests} requests a scenario "
        f"in {args.rounds} alternating rounds\n"
    )
    print(table(rows))
    print()
    print(table(ratios))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if any(result.get("errors") for result in figures.values()) else 0


def _cpu_ratio(bare: float, junction: float) -> str:
    # The servers' own CPU per request (workers and master, from /proc): the client processes
    # that share the cores move it far less than they move the request rate.
    return f"{bare / junction:.2f}" if bare and junction else "n/a"


if __name__ == "__main__":
    sys.exit(main())
