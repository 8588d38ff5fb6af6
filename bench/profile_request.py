"""CPU time of one request inside the process, Junction against the bare app, and a profile.

The request goes straight to the WSGI callable (no gunicorn, no socket, no test client), so the
figures are Junction's own work; process CPU time (best of five passes) is less disturbed by a
busy machine than wall-clock rates. Same data as ``http_overhead.py`` (1,000 projects).

    .venv/bin/python bench/profile_request.py                    # both paths, CPU per request
    .venv/bin/python bench/profile_request.py --profile "/api/projects?limit=50"

``--profile`` prints a pyinstrument profile of that path (pyinstrument is in the test extras).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_overhead import PROJECTS_PATH, migrate_and_seed

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(path: str) -> dict[str, Any]:
    """A loopback GET as gunicorn would hand it over."""
    route, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }


def call(app: WsgiApp, path: str) -> bytes:
    """The body ``app`` answers for ``GET path``."""
    return b"".join(app(environ(path), lambda status, headers, exc_info=None: None))


def cpu_per_request(app: WsgiApp, path: str, count: int) -> float:
    """Best of five passes of ``count`` requests, in microseconds of process CPU each."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(count):
            call(app, path)
        best = min(best, (time.process_time() - started) / count * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    """Print CPU per request of both apps on both paths; optionally profile one path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests a pass")
    parser.add_argument("--profile", metavar="PATH", help="profile this path with pyinstrument")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="junction-profile-") as tmp_name:
        tmp = Path(tmp_name)
        instance, checkout, bodies = tmp / "instance", tmp / "checkout", tmp / "bodies"
        for folder in (instance, checkout, bodies):
            folder.mkdir()
        url = f"sqlite:///{tmp / 'bench.db'}"
        migrate_and_seed(url, instance, checkout)
        from app import create_app

        junction = create_app(
            {"JUNCTION_DATABASE_URL": url, "JUNCTION_SCHEDULER": "off"}, instance_path=instance
        )
        (bodies / "healthz.json").write_bytes(call(junction, "/healthz"))
        (bodies / "projects.json").write_bytes(call(junction, PROJECTS_PATH))
        os.environ["BENCH_BODIES_DIR"] = str(bodies)
        from bench.bare_app import app as bare

        print(f"{'path':24}  junction µs  bare µs  bare/junction")
        for path in ("/healthz", PROJECTS_PATH):
            ours = cpu_per_request(junction, path, args.requests)
            base = cpu_per_request(bare, path, args.requests)
            print(f"{path:24}  {ours:11.0f}  {base:7.0f}  {base / ours:13.2f}")
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            cpu_per_request(junction, args.profile, args.requests)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
