"""Benchmark of the build-queue backends, each beside its raw client in the same run.

For every backend available here: enqueue throughput, then lease+ack throughput with 1 and 4
consumer processes, through the backend (``plugins.queue_*``) and through its raw client doing
the same operations (redis-py ``LPUSH`` / ``LMOVE`` + ``LREM`` without pipelines, encoding the
item as JSON and decoding it after ``LMOVE``; plain SQL ``INSERT`` / ``UPDATE ... FOR UPDATE
SKIP LOCKED`` / ``DELETE`` with psycopg). Rounds alternate backend and raw client, and which of
them goes first; rates are medians of the rounds, and the ratio backend/raw (goal >= 0.5) is the
median of the rounds' ratios, each measured back to back, printed with them. Then the time to
lease from a large PostgreSQL queue (``--pg-large``, default 100,000 rows; ``--pg-large
1000000`` is the issue's size) against a small one.

    .venv/bin/python bench/queue_backends.py                    # every backend available
    .venv/bin/python bench/queue_backends.py --backends redis --items 5000

Redis: ``--redis-url`` (default ``$JUNCTION_TEST_REDIS_URL`` or ``redis://127.0.0.1:6379/15``),
keys under a random prefix, removed afterwards. PostgreSQL: ``--server`` (default
``$JUNCTION_TEST_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/postgres``), a
disposable database. A backend whose service does not answer is skipped with the reason.

Adding a backend: write a :class:`Bench` subclass (``setup`` returns the specs with which
consumer processes open the backend and its raw client) and add it to ``BENCHES``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugins.builds.queue_base import QueueItem  # noqa: E402

Spec = dict[str, Any]  # {"factory": "module:callable", "args": {...}}, opened in any process


def open_spec(spec: Spec) -> Any:
    """Call ``spec``'s factory with its args."""
    module, _, name = spec["factory"].partition(":")
    return getattr(importlib.import_module(module), name)(**spec.get("args", {}))


def new_item(n: int) -> QueueItem:
    """A distinct item."""
    return QueueItem(id=uuid.uuid4().hex, package=f"pkg-{n}-{uuid.uuid4().hex[:8]}", version="1")


# -- adapters: the two operations the benchmark times --------------------------------------------


class BackendOps:
    """A queue backend (``plugins.builds.queue_base.QueueBackend``) opened from a spec."""

    def __init__(self, backend: Spec) -> None:
        from plugins.builds.queue_proc import open_backend

        self.queue = open_backend(backend)

    def enqueue(self, n: int) -> None:
        """Add one item."""
        self.queue.enqueue(new_item(n))

    def lease_ack(self) -> bool:
        """Lease one item and ack it; ``False`` when none is available."""
        lease = self.queue.lease("bench", 300)
        if lease is None:
            return False
        return bool(self.queue.ack(lease.item.id, lease.token))


class RawRedis:
    """redis-py with no pipelines: ``LPUSH`` the item, ``LMOVE`` it into a processing list,
    ``LREM`` it from there to ack (the classic reliable-queue pattern).

    It does what the backend's caller gets done, no more: the item is encoded (its fields as
    JSON, the quickest way) before ``LPUSH`` and decoded into a :class:`QueueItem` after
    ``LMOVE``, as a worker needs it."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.ready, self.processing = f"{prefix}:raw:ready", f"{prefix}:raw:processing"

    def enqueue(self, n: int) -> None:
        """Add one item."""
        self.client.lpush(self.ready, json.dumps(vars(new_item(n))))

    def lease_ack(self) -> bool:
        """Move one item to processing, decode it and remove it there."""
        body = self.client.lmove(self.ready, self.processing, "RIGHT", "LEFT")
        if body is None:
            return False
        QueueItem(**json.loads(body))
        # redis-py annotates lrem's value as str, but it sends bytes as they are (the body
        # read back above is bytes: the client does not decode responses).
        return bool(self.client.lrem(self.processing, 1, body))  # type: ignore[arg-type]


RAW_PG_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw_queue (
    seq bigserial PRIMARY KEY, body text NOT NULL, available_at double precision NOT NULL,
    token text);
CREATE INDEX IF NOT EXISTS bench_raw_queue_available ON bench_raw_queue (available_at, seq);
"""


class RawPostgres:
    """Plain SQL with psycopg (autocommit): ``INSERT``; ``UPDATE ... WHERE seq = (SELECT ...
    FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING``; ``DELETE`` by key."""

    def __init__(self, conninfo: str) -> None:
        import psycopg

        self.conn = psycopg.connect(conninfo, autocommit=True)

    def enqueue(self, n: int) -> None:
        """Add one item."""
        self.conn.execute(
            "INSERT INTO bench_raw_queue (body, available_at) VALUES (%s, %s)",
            (json.dumps(new_item(n).as_dict()), time.time()),
        )

    def lease_ack(self) -> bool:
        """Lease the next row, then delete it."""
        now = time.time()
        row = self.conn.execute(
            "UPDATE bench_raw_queue SET available_at = %s, token = %s WHERE seq = ("
            "SELECT seq FROM bench_raw_queue WHERE available_at <= %s "
            "ORDER BY available_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING seq, body",
            (now + 300, uuid.uuid4().hex, now),
        ).fetchone()
        if row is None:
            return False
        return (
            self.conn.execute("DELETE FROM bench_raw_queue WHERE seq = %s", (row[0],)).rowcount == 1
        )


# -- consumer processes ---------------------------------------------------------------------------


def _consume(ops_spec: Spec, ready: Any, go: Any, results: Any) -> None:
    ops = open_spec(ops_spec)
    ready.release()
    go.wait()
    done = 0
    while ops.lease_ack():
        done += 1
    results.put(done)


def lease_ack_rate(ops_spec: Spec, consumers: int, expected: int) -> float:
    """Items leased and acked per second by ``consumers`` processes draining the queue
    (timed from the moment all of them are connected)."""
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_consume, args=(ops_spec, ready, go, results)) for _ in range(consumers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.acquire()
    started = time.perf_counter()
    go.set()
    done = sum(results.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    if done != expected:
        print(f"    warning: drained {done} of {expected}")
    return done / elapsed


def enqueue_rate(ops_spec: Spec, items: int) -> float:
    """Items enqueued per second by one client."""
    ops = open_spec(ops_spec)
    started = time.perf_counter()
    for n in range(items):
        ops.enqueue(n)
    return items / (time.perf_counter() - started)


# -- backends -------------------------------------------------------------------------------------


class Bench:
    """One backend under test: ``setup`` yields ``(backend ops spec, raw ops spec or None)``."""

    name = ""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @contextlib.contextmanager
    def setup(self) -> Iterator[tuple[Spec, Spec | None]]:
        """Make the queue (and the raw client's); remove them afterwards."""
        raise NotImplementedError
        yield  # pragma: no cover

    def extra(self) -> None:
        """Backend-specific figures printed after the common ones."""


class FileBench(Bench):
    """The built-in file backend (no raw client: it is its own baseline)."""

    name = "file"

    @contextlib.contextmanager
    def setup(self) -> Iterator[tuple[Spec, Spec | None]]:
        """A queue folder on disk."""
        with tempfile.TemporaryDirectory(prefix="junction-bench-") as folder:
            spec = {"factory": "plugins.builds.queue_file:FileQueue", "args": {"directory": folder}}
            yield {"factory": "bench.queue_backends:BackendOps", "args": {"backend": spec}}, None


class RedisBench(Bench):
    """``queue_redis`` against redis-py ``LPUSH`` / ``LMOVE``."""

    name = "redis"

    @contextlib.contextmanager
    def setup(self) -> Iterator[tuple[Spec, Spec | None]]:
        """Keys under a random prefix, unlinked afterwards (SCAN, never KEYS)."""
        import redis

        url = self.args.redis_url
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        prefix = f"junction-bench:{uuid.uuid4().hex[:8]}"
        spec = {
            "factory": "plugins.queue_redis.backend:RedisQueue",
            "args": {"url": url, "prefix": prefix},
        }
        try:
            yield (
                {"factory": "bench.queue_backends:BackendOps", "args": {"backend": spec}},
                {
                    "factory": "bench.queue_backends:RawRedis",
                    "args": {"url": url, "prefix": prefix},
                },
            )
        finally:
            for pattern in (f"{prefix}:*", "{" + prefix + "}:*"):
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.unlink(*keys)
            client.close()


class PostgresBench(Bench):
    """``queue_postgres`` against plain SQL, in a disposable database."""

    name = "postgres"

    @contextlib.contextmanager
    def setup(self) -> Iterator[tuple[Spec, Spec | None]]:
        """A fresh database with the queue's tables and the raw table."""
        from app.testing import fresh_database
        from plugins.queue_postgres.service import libpq_url

        with (
            tempfile.TemporaryDirectory() as folder,
            fresh_database(Path(folder), self.args.server) as url,
        ):
            conninfo = libpq_url(url)[1]
            self._create(url, conninfo)
            self.conninfo = conninfo
            spec = {
                "factory": "plugins.queue_postgres.backend:PostgresQueue",
                "args": {"conninfo": conninfo},
            }
            yield (
                {"factory": "bench.queue_backends:BackendOps", "args": {"backend": spec}},
                {"factory": "bench.queue_backends:RawPostgres", "args": {"conninfo": conninfo}},
            )

    @staticmethod
    def _create(url: str, conninfo: str) -> None:
        import psycopg
        import sqlalchemy as sa

        from plugins.queue_postgres.models import QueueCounter, QueueRow

        engine = sa.create_engine(url)
        with engine.begin() as connection:
            QueueRow.__table__.create(connection)
            QueueCounter.__table__.create(connection)
        engine.dispose()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(RAW_PG_TABLE)

    def extra(self) -> None:
        """Lease latency at ``--pg-large`` rows against 1,000 rows."""
        from plugins.queue_postgres.backend import PostgresQueue

        for rows in (1000, self.args.pg_large):
            self._fill(rows)
            queue = PostgresQueue(self.conninfo)
            times = []
            for _ in range(self.args.pg_samples):
                started = time.perf_counter()
                lease = queue.lease("bench", 300)
                times.append((time.perf_counter() - started) * 1000)
                assert lease is not None
                queue.ack(lease.item.id, lease.token)
            queue.close()
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(
                f"  lease from a {rows:>9,}-item queue: p50 {statistics.median(times):.2f} ms, "
                f"p95 {p95:.2f} ms"
            )
        print(f"  plan: {self._plan()}")

    def _fill(self, rows: int) -> None:
        import psycopg

        now = time.time()
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("TRUNCATE queue_postgres_items")
            conn.execute(
                "INSERT INTO queue_postgres_items "
                "(id, dedup_key, item, enqueued_at, available_at, attempts) "
                "SELECT md5(g::text), '[\"p' || g || '\",\"1\",null,null]', "
                "json_build_object('id', md5(g::text), 'package', 'p' || g, 'version', '1', "
                "'recipes', '{}'::json, 'enqueued_at', %(now)s - 1e6 + g)::text, "
                "%(now)s - 1e6 + g, %(now)s - 1e6 + g, 0 FROM generate_series(1, %(rows)s) g",
                {"now": now, "rows": rows},
            )
            conn.execute("VACUUM ANALYZE queue_postgres_items")

    def _plan(self) -> str:
        import psycopg

        from plugins.queue_postgres.backend import LEASE_SQL

        now = time.time()
        params = {"now": now, "deadline": now + 300, "token": "x", "worker": "bench"}
        with psycopg.connect(self.conninfo) as conn:
            rows = conn.execute("EXPLAIN " + LEASE_SQL, params).fetchall()
            conn.rollback()
        scans = [r[0].strip() for r in rows if "Scan" in r[0]]
        return "; ".join(scans)


BENCHES: dict[str, type[Bench]] = {
    "file": FileBench,
    "redis": RedisBench,
    "postgres": PostgresBench,
}


def run(bench: Bench, items: int, consumer_counts: list[int], repeat: int) -> None:
    """Print one backend's figures beside its raw client's."""
    print(f"\n{bench.name}")
    try:
        context = bench.setup()
        backend_spec, raw_spec = context.__enter__()
    except Exception as exc:
        print(f"  skipped: {type(exc).__name__}: {exc}")
        return
    try:
        # Rounds alternate backend and raw client, and which of them goes first; each rate is
        # the median of its rounds and the ratio the median of the rounds' ratios (each pair
        # measured back to back), so a burst of load from elsewhere on the machine (or a server
        # warming up) hits both sides of a ratio alike.
        samples: dict[str, tuple[list[float], list[float]]] = {}

        def note(label: str, ours: float, raw: float | None) -> None:
            mine, theirs = samples.setdefault(label, ([], []))
            mine.append(ours)
            if raw is not None:
                theirs.append(raw)

        def both(measure: Any, round_: int) -> tuple[float, float | None]:
            if raw_spec is None:
                return measure(backend_spec), None
            if round_ % 2:
                raw = measure(raw_spec)
                return measure(backend_spec), raw
            ours = measure(backend_spec)
            return ours, measure(raw_spec)

        for round_ in range(repeat):
            note("enqueue, 1 client", *both(lambda s: enqueue_rate(s, items), round_))
            for n, consumers in enumerate(consumer_counts):
                if n:  # the first round drains what the enqueue round put there
                    both(lambda s: enqueue_rate(s, items), round_)
                ours, raw = both(lambda s, c=consumers: lease_ack_rate(s, c, items), round_)
                plural = "es" if consumers > 1 else ""
                note(f"lease+ack, {consumers} process{plural}", ours, raw)
        print(f"  {'operation':<26}{'backend/s':>12}{'raw/s':>12}{'ratio':>8}   ratio per round")
        for label, (mine, theirs) in samples.items():
            ours = statistics.median(mine)
            if not theirs:
                print(f"  {label:<26}{ours:>12,.0f}{'-':>12}{'-':>8}")
                continue
            ratios = [m / t for m, t in zip(mine, theirs, strict=True)]
            rounds = " ".join(f"{r:.2f}" for r in ratios)
            print(
                f"  {label:<26}{ours:>12,.0f}{statistics.median(theirs):>12,.0f}"
                f"{statistics.median(ratios):>8.2f}   {rounds}"
            )
        bench.extra()
    finally:
        context.__exit__(None, None, None)


def main() -> None:
    """Parse the options and run every chosen backend."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default=",".join(BENCHES), help="comma-separated names")
    parser.add_argument("--items", type=int, default=2000, help="items per round (default 2000)")
    parser.add_argument("--consumers", default="1,4", help="consumer process counts (default 1,4)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("JUNCTION_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("JUNCTION_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--repeat", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--pg-large", type=int, default=100_000, help="rows of the large queue")
    parser.add_argument("--pg-samples", type=int, default=200, help="leases timed per size")
    args = parser.parse_args()
    counts = [int(c) for c in args.consumers.split(",")]
    print(
        f"{args.items} items per round, medians of {args.repeat} alternating rounds; "
        f"consumers {counts}; ratio = backend / raw client, median of the rounds' ratios"
    )
    for name in args.backends.split(","):
        run(BENCHES[name](args), args.items, counts, args.repeat)


if __name__ == "__main__":
    main()
