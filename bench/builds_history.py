"""Benchmark of the builds plugin's history queries and log search on PostgreSQL.

Generates N build events and M build logs in a disposable database (migrated like
``junction db upgrade``), then times the plugin's own service functions — the code behind
``GET /api/builds/summary``, ``history`` (filtered), ``package/{name}``, ``top-failures``,
``top-slowest`` and ``logs/search`` — and, as the baseline measured in the same run, the
``ILIKE '%word%'`` scan over the very same log texts for the very same words.

    .venv/bin/python bench/builds_history.py                       # 200k events, 20k logs
    .venv/bin/python bench/builds_history.py --events 1000000 --logs 100000   # the issue's size

Needs a PostgreSQL server whose user may CREATE DATABASE (``--server``, default
``postgresql://postgres@127.0.0.1:5432/postgres``); the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

VOCABULARY = [
    "building",
    "wheel",
    "collecting",
    "running",
    "setup",
    "install",
    "copying",
    "creating",
    "compiling",
    "linking",
    "warning",
    "error",
    "note",
    "include",
    "header",
    "module",
    "extension",
    "source",
    "package",
    "numpy",
    "cython",
    "gcc",
    "clang",
    "rustc",
    "cargo",
    "cmake",
    "ninja",
    "meson",
    "pkg-config",
    "openssl",
    "libffi",
    "zlib",
    "libxml2",
    "libxslt",
    "blas",
    "lapack",
    "fortran",
    "gfortran",
    "pybind11",
    "setuptools",
    "distutils",
    "pyproject",
    "metadata",
    "egg-info",
    "deprecated",
    "unused",
    "variable",
    "implicit",
    "declaration",
    "function",
    "argument",
    "pointer",
    "integer",
    "conversion",
    "overflow",
    "undefined",
    "reference",
    "symbol",
    "library",
    "object",
    "archive",
    "static",
    "shared",
    "optimization",
    "debug",
    "release",
    "target",
    "platform",
    "architecture",
    "s390x",
    "aarch64",
    "x86_64",
    "musl",
    "glibc",
]
RARE = ["segmentation", "bison", "gettext", "hdf5"]
QUERY_WORDS = ["linker", "segmentation", "openssl", "gfortran", "ffmpeg", "undefined"]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def make_log(rng: random.Random, n: int) -> str:
    """A plausible build log of ~60 lines."""
    lines = [f"Building wheel for pkg-{n} (pyproject.toml) ... started"]
    for _ in range(rng.randint(40, 80)):
        words = rng.choices(VOCABULARY, k=rng.randint(6, 14))
        if rng.random() < 0.01:
            words.append(rng.choice(RARE))
        lines.append(" ".join(words) + f" src/pkg_{n % 97}/mod.c:{rng.randint(1, 999)}")
    if n % 1000 == 0:
        lines.append("ffmpeg: libavcodec not found")
    if n % 7 == 0:
        lines.append("/usr/bin/ld: linker error: undefined reference to `main'")
    return "\n".join(lines) + "\n"


def generate(app: Any, events: int, logs: int, seed: int) -> None:
    """Fill the database: events by SQL, logs from Python (compressed, indexed, plain copy)."""
    from app.db import db
    from plugins.builds.logs import _SEPARATORS

    with app.app_context():
        started = time.monotonic()
        db.session.execute(
            sa.text(
                "INSERT INTO builds_events (event_id, run_id, name, version, python_tag, "
                "platform_tag, status, metadata, duration_ms, matched_hint_ids, timestamp, "
                "created_at) SELECT 'ev-' || g, 'run-' || (g / 500), 'pkg-' || (g % 20000), "
                "'1.' || (g % 13), 'cp312', 'manylinux_2_28_s390x', "
                "(ARRAY['built','built','built','built','reused','building','building',"
                "'built','failed','timeout'])[1 + (g * 7919) % 10], '{}', "
                "CASE WHEN g % 3 = 0 THEN NULL ELSE (g * 7919) % 3600000 END, '[]', "
                "now() - (g * interval '3 seconds'), now() FROM generate_series(1::bigint, :n) g"
            ),
            {"n": events},
        )
        db.session.execute(
            sa.text(
                "INSERT INTO builds_failure_counts SELECT name, count(*), max(timestamp) "
                "FROM builds_events WHERE status IN ('failed', 'timeout') GROUP BY name"
            )
        )
        db.session.execute(
            sa.text("CREATE TABLE bench_log_text (id bigint PRIMARY KEY, body text)")
        )
        db.session.commit()
        print(f"  {events:,} events in {time.monotonic() - started:.1f} s", flush=True)

        started = time.monotonic()
        rng = random.Random(seed)
        conn = db.session.connection().connection.driver_connection
        assert conn is not None  # a checked-out connection always has its psycopg connection
        batch = 2000
        for first in range(1, logs + 1, batch):
            rows, texts = [], []
            for n in range(first, min(logs, first + batch - 1) + 1):
                text = make_log(rng, n)
                rows.append(
                    (
                        n,
                        f"pkg-{n % 20000}",
                        "1.0",
                        zlib.compress(text.encode(), 6),
                        len(text),
                        False,
                    )
                )
                texts.append((n, text))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO builds_logs (id, name, version, content, size_bytes, "
                    "truncated, timestamp) VALUES (%s, %s, %s, %s, %s, %s, now())",
                    rows,
                )
                cur.executemany("INSERT INTO bench_log_text (id, body) VALUES (%s, %s)", texts)
                cur.executemany(
                    "INSERT INTO builds_log_search (log_id, tsv) VALUES (%s, "
                    "to_tsvector('english', %s) || to_tsvector('english', %s))",
                    [(n, t, t.translate(_SEPARATORS)) for n, t in texts],
                )
            conn.commit()
        print(f"  {logs:,} logs in {time.monotonic() - started:.1f} s", flush=True)
    with app.app_context():
        engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as c:
            c.execute(sa.text("VACUUM ANALYZE"))


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def measure(app: Any, repeat: int, seed: int) -> list[tuple[str, list[float]]]:
    """Time every query; return ``[(label, samples)]``."""
    from app.db import db
    from plugins.builds import history, logs

    rng = random.Random(seed)
    results: list[tuple[str, list[float]]] = []
    with app.app_context():

        def run(label: str, fn: Callable[[], Any]) -> None:
            def call() -> None:
                fn()
                db.session.rollback()

            results.append((label, timed(call, repeat)))

        run("summary", lambda: history.summary(20, 24))
        run(
            "history package+status",
            lambda: history.history(
                {
                    "package": f"pkg-{rng.randrange(20000)}",
                    "status": "failed",
                    "limit": 50,
                    "offset": 0,
                }
            ),
        )
        run(
            "history run_id",
            lambda: history.history(
                {"run_id": f"run-{rng.randrange(400)}", "limit": 50, "offset": 0}
            ),
        )
        run("recent (page 3)", lambda: history.history({"limit": 50, "offset": 100}))
        run("package", lambda: history.package(f"pkg-{rng.randrange(20000)}"))
        run("top-failures", lambda: history.top_failures(10))
        run("top-slowest", lambda: history.top_slowest(10))
        for word in QUERY_WORDS:
            run(f"  search {word!r}", functools.partial(logs.search, word, 20))
        words = iter(QUERY_WORDS * repeat * 2)
        run("log search (FTS)", lambda: logs.search(next(words), 20))
        words = iter(QUERY_WORDS * repeat * 2)
        run(
            "log search (ILIKE baseline)",
            lambda: db.session.execute(
                sa.text(
                    "SELECT id FROM bench_log_text WHERE body ILIKE :q ORDER BY id DESC LIMIT 20"
                ),
                {"q": f"%{next(words)}%"},
            ).all(),
        )
    return results


def main() -> int:
    """Parse options, generate, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--logs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    from app.testing import AppFactory

    with tempfile.TemporaryDirectory() as tmp:
        factory = AppFactory(Path(tmp), args.server)
        try:
            app = factory(plugins=["builds"])
            print(f"generating {args.events:,} events and {args.logs:,} logs ...", flush=True)
            generate(app, args.events, args.logs, args.seed)
            results = measure(app, args.repeat, args.seed)
        finally:
            factory.close()

    print(f"\n{'query':<30} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
    figures = {}
    for label, samples in results:
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        figures[label] = (p50, p95)
        print(f"{label:<30} {p50:>9.2f} {p95:>9.2f} {statistics.fmean(samples):>9.2f}")
    fts, ilike = figures["log search (FTS)"], figures["log search (ILIKE baseline)"]
    print(
        f"\nlog search vs ILIKE over the same {args.logs:,} logs and words: "
        f"{ilike[0] / fts[0]:.1f}x faster at p50, {ilike[1] / fts[1]:.1f}x at p95"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
