"""A three-host network in Linux network namespaces, and silent cuts with nftables.

``services`` holds a bridge with address ``.1``; hosts ``a`` (``.2``) and ``b`` (``.3``) hang
off it by veth pairs created inside the namespaces (no interface ever appears in the root
namespace, so concurrent sessions never collide). Namespace names carry a per-session prefix.
A cut is an nftables ``drop`` (no reset, no ICMP): the way real links fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

SUBNET = "10.213.77"
ADDRESSES = {"services": f"{SUBNET}.1", "a": f"{SUBNET}.2", "b": f"{SUBNET}.3"}
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def unavailable() -> str | None:
    """Why this machine cannot build the topology, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft", "initdb", "pg_ctl", "redis-server", "runuser"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install -y nftables iproute2 ...)"
    probe = f"jpprobe{uuid.uuid4().hex[:6]}"
    try:
        _ip("netns", "add", probe)
        try:
            subprocess.run(
                ["ip", "netns", "exec", probe, "nft", "add", "table", "inet", "probe"],
                check=True,
                capture_output=True,
            )
        finally:
            _ip("netns", "del", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"cannot create a network namespace with nftables here: {exc}"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _enter(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
    finally:
        os.close(fd)


class Topology:
    """The namespaces, the processes started in them, and the cuts."""

    def __init__(self) -> None:
        self.prefix = f"jp{os.getpid()}{uuid.uuid4().hex[:4]}"
        self.names = {host: f"{self.prefix}-{host}" for host in ADDRESSES}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.cleanups: list[Callable[[], Any]] = []
        self._pools: list[ThreadPoolExecutor] = []

    # -- building and tearing down -----------------------------------------------------------

    def build(self) -> Topology:
        """Create the namespaces, the bridge, the links and the addresses."""
        services = self.names["services"]
        for name in self.names.values():
            _ip("netns", "add", name)
            self.exec_ok(name, "ip", "link", "set", "lo", "up")
        self.exec_ok(services, "ip", "link", "add", "br0", "type", "bridge")
        self.exec_ok(services, "ip", "addr", "add", f"{ADDRESSES['services']}/24", "dev", "br0")
        self.exec_ok(services, "ip", "link", "set", "br0", "up")
        for host in ("a", "b"):
            port = f"to{host}"
            self.exec_ok(
                services,
                *("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0"),
                *("netns", self.names[host]),
            )
            self.exec_ok(services, "ip", "link", "set", port, "master", "br0", "up")
            self.exec_ok(
                self.names[host], "ip", "addr", "add", f"{ADDRESSES[host]}/24", "dev", "eth0"
            )
            self.exec_ok(self.names[host], "ip", "link", "set", "eth0", "up")
        for name in self.names.values():
            self.exec_ok(name, "nft", "add", "table", "inet", "cut")
            for hook in ("input", "output"):
                self.exec_ok(
                    name,
                    *("nft", "add", "chain", "inet", "cut", hook),
                    *("{", "type", "filter", "hook", hook, "priority", "0", ";", "}"),
                )
        return self

    def destroy(self) -> None:
        """Stop every process started here and delete the namespaces (idempotent)."""
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self.cleanups.clear()
        for process in self.processes:
            stop_group(process)
        for name in self.names.values():
            # Anything still running inside (a daemonised server) dies with a SIGKILL first.
            pids = subprocess.run(
                ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
            ).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)

    # -- running things inside -----------------------------------------------------------------

    def command(self, host: str, *argv: str) -> list[str]:
        """``argv`` run inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self.names.get(host, host), *argv]

    def exec_ok(self, namespace: str, *argv: str) -> str:
        """Run ``argv`` in ``namespace`` (a full name) and return its output; fail loudly."""
        done = subprocess.run(
            ["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {namespace}: {done.stderr.strip()}")
        return done.stdout

    def start(
        self, host: str, argv: list[str], log_path: os.PathLike[str], env: dict[str, str], cwd: str
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``host`` in its own process group; stopped by :meth:`destroy`."""
        log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            self.command(host, *argv),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def pool(self, host: str, workers: int = 8) -> ThreadPoolExecutor:
        """Threads living in ``host``'s namespace: sockets they open are that host's."""
        pool = ThreadPoolExecutor(
            workers,
            thread_name_prefix=f"netns-{host}",
            initializer=_enter,
            initargs=(f"/run/netns/{self.names[host]}",),
        )
        self._pools.append(pool)
        return pool

    def call(self, host: str, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in a thread of ``host``'s namespace."""
        result: list[Any] = []

        def run() -> None:
            try:
                _enter(f"/run/netns/{self.names[host]}")
                result.append((True, func(*args)))
            except BaseException as exc:  # handed back to the caller
                result.append((False, exc))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join()
        ok, value = result[0]
        if not ok:
            raise value
        return value

    # -- cuts ----------------------------------------------------------------------------------

    def cut(self, host: str, port: int | None = None) -> None:
        """Drop, silently, every packet of ``host`` on its link (or only to and from the
        services' ``port``)."""
        name = self.names[host]
        peer = ADDRESSES["services"]
        out_match = (
            ["oifname", "eth0"]
            if port is None
            else ["ip", "daddr", peer, "tcp", "dport", str(port)]
        )
        in_match = (
            ["iifname", "eth0"]
            if port is None
            else ["ip", "saddr", peer, "tcp", "sport", str(port)]
        )
        if host == "services":
            out_match = ["tcp", "sport", str(port)]
            in_match = ["tcp", "dport", str(port)]
        self.exec_ok(name, "nft", "add", "rule", "inet", "cut", "output", *out_match, "drop")
        self.exec_ok(name, "nft", "add", "rule", "inet", "cut", "input", *in_match, "drop")

    def heal(self, host: str) -> None:
        """Remove every cut of ``host``."""
        name = self.names[host]
        for hook in ("input", "output"):
            self.exec_ok(name, "nft", "flush", "chain", "inet", "cut", hook)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """TERM then KILL ``process``'s whole group."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
