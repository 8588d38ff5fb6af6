"""Helpers shared by the tests: databases, free ports, real gunicorn processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from app import testing

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def pg_server_url() -> str | None:
    """``JUNCTION_TEST_DATABASE_URL`` when the suite runs on PostgreSQL, else ``None``."""
    return os.environ.get("JUNCTION_TEST_DATABASE_URL") or None


def redis_url() -> str | None:
    """``JUNCTION_TEST_REDIS_URL`` when the suite runs with Redis, else ``None``."""
    return os.environ.get("JUNCTION_TEST_REDIS_URL") or None


def fresh_database(tmp_dir: Path) -> contextlib.AbstractContextManager[str]:
    """An empty database for one test session or server: a new PostgreSQL database when
    ``JUNCTION_TEST_DATABASE_URL`` is set (dropped afterwards), else a SQLite file.

    The public helper of :mod:`app.testing` (what plugin authors' fixtures use), on the
    server this run is configured for.
    """
    return testing.fresh_database(tmp_dir, pg_server_url())


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds.

    This waits for an observable state (a port answering, a row appearing), never for time.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may raise until it holds
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last_error!r}")


class Gunicorn:
    """A real gunicorn serving ``wsgi:app`` on a free port, in its own process group."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 2,
        threads: int = 4,
        extra_args: list[str] | None = None,
        app: str = "wsgi:app",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.args = [
            str(VENV_BIN / "gunicorn"),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            *(extra_args or []),
            app,
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def start(self, log_path: Path, ready_path: str = "/readyz") -> Gunicorn:
        """Start and wait until ``ready_path`` answers 200."""
        self.log_path = log_path
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()}")
            return requests.get(self.url + ready_path, timeout=2).status_code == 200

        try:
            wait_until(ready, timeout=30, what=f"gunicorn {ready_path}")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n--- gunicorn log ---\n{self.log()}") from None
        return self

    def log(self) -> str:
        """What gunicorn has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def worker_pids(self) -> list[int]:
        """The PIDs of the worker processes (children of the arbiter)."""
        assert self.process is not None
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in out.stdout.split()]

    def stop(self) -> None:
        """Stop the whole process group (TERM, then KILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> Gunicorn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def migrate_database(url: str, instance: Path, env: dict[str, str] | None = None) -> None:
    """Run ``flask junction db upgrade`` against ``url`` in a subprocess (as an operator would)."""
    subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "junction", "db", "upgrade"],
        cwd=ROOT,
        env={
            **os.environ,
            **(env or {}),
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
        },
        check=True,
        capture_output=True,
    )


def start_operations_runner(
    env: dict[str, str], log_path: Path, app: str = "wsgi"
) -> subprocess.Popen[bytes]:
    """A real runner process, ``flask junction operations run --wait``, in its own process
    group (so a test can SIGKILL it); its output goes to ``log_path``."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            str(VENV_BIN / "flask"),
            "--app",
            app,
            "junction",
            "operations",
            "run",
            "--wait",
            "--poll",
            "0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
