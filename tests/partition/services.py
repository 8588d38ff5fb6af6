"""The services host's servers: a PostgreSQL cluster and a Redis server started by the test,
and a recording fake external service (what operation handlers call)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.partition.netns import ADDRESSES, Topology
from tests.support import wait_until

PG_PORT = 5432
REDIS_PORT = 6379
RECORDER_PORT = 8099


def start_postgres(topo: Topology, log_dir: Path) -> str:
    """initdb + pg_ctl as ``postgres`` in a temp dir, listening on the services address;
    returns the server's URL (database ``postgres``)."""
    data = Path(tempfile.mkdtemp(prefix=f"{topo.prefix}-pg-"))
    shutil.chown(data, "postgres", "postgres")
    topo.cleanups.append(lambda: shutil.rmtree(data, ignore_errors=True))
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "initdb",
            "-D",
            str(data / "db"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    with open(data / "db" / "pg_hba.conf", "a", encoding="utf-8") as hba:
        hba.write(f"host all all {ADDRESSES['services'].rsplit('.', 1)[0]}.0/24 trust\n")
    options = (
        f"-c listen_addresses={ADDRESSES['services']} -c port={PG_PORT} -k {data} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    pg_ctl = ["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(data / "db")]
    topo.exec_ok(
        topo.names["services"], *pg_ctl, "-o", options, "-l", str(data / "log"), "-w", "start"
    )
    topo.cleanups.append(
        lambda: subprocess.run(
            topo.command("services", *pg_ctl, "-m", "immediate", "stop"),
            capture_output=True,
            check=False,
        )
    )
    topo.cleanups.append(
        lambda: (
            shutil.copy(data / "log", log_dir / "postgres.log") if (data / "log").exists() else None
        )
    )
    return f"postgresql://postgres@{ADDRESSES['services']}:{PG_PORT}/postgres"


def start_redis(topo: Topology, log_dir: Path) -> str:
    """A redis-server on the services address; returns its URL."""
    topo.start(
        "services",
        [
            "redis-server",
            "--bind",
            ADDRESSES["services"],
            "--port",
            str(REDIS_PORT),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ],
        log_dir / "redis.log",
        env=dict(os.environ),
        cwd=str(log_dir),
    )
    url = f"redis://{ADDRESSES['services']}:{REDIS_PORT}/0"

    def answers() -> bool:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())

    wait_until(lambda: topo.call("services", answers), timeout=15, what="redis-server")
    return url


class Recorder:
    """The fake external service: records every POST (its JSON and the arrival time)."""

    def __init__(self, topo: Topology) -> None:
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with recorder._lock:
                    recorder.calls.append({**body, "at": time.time()})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        # The listening socket is made in the services namespace; serving may run anywhere.
        self.server = topo.call(
            "services", lambda: ThreadingHTTPServer((ADDRESSES["services"], RECORDER_PORT), Handler)
        )
        self.url = f"http://{ADDRESSES['services']}:{RECORDER_PORT}/call"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        topo.cleanups.append(self.server.shutdown)

    def snapshot(self) -> list[dict[str, Any]]:
        """The calls so far."""
        with self._lock:
            return list(self.calls)
