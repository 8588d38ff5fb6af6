"""Shared helpers of the benchmarks: real gunicorn, a bounded load generator, percentiles.

Everything stays on loopback. The load generator sends a fixed number of requests from a few
client processes (each one keep-alive connection), stops at a time limit whatever it
has reached, and reports latencies measured on the client side.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port that was free a moment ago on loopback."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_http_ok(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s: {last!r}")


@contextlib.contextmanager
def gunicorn(
    app: str,
    env: Mapping[str, str],
    log_path: Path,
    *,
    workers: int = 2,
    threads: int = 4,
    ready_path: str = "/healthz",
) -> Iterator[str]:
    """Run ``app`` under gunicorn with the project's ``gunicorn.conf.py``; yield its base URL.

    The whole process group is stopped on exit (TERM, then KILL after 15 s).
    """
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"{LOOPBACK}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        app,
    ]
    full_env = {**os.environ, **env}
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server gets its own folder
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://{LOOPBACK}:{port}"
        _SERVER_GROUPS[url] = process.pid  # start_new_session: the group id is the master's pid
        try:
            wait_http_ok(url + ready_path, process=process)
            yield url
        finally:
            _SERVER_GROUPS.pop(url, None)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


# Base URL of each running server -> its process group (master and workers).
_SERVER_GROUPS: dict[str, int] = {}


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (``None`` if unreadable):
    the process group at 2, user and system ticks at 11 and 12."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None  # gone meanwhile, or no /proc


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) process ``pid`` used so far, read from
    ``/proc``; ``None`` when unknown."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(url: str) -> float | None:
    """CPU seconds (user + system) used so far by the processes of the server behind ``url``
    (one started by :func:`gunicorn`), read from ``/proc``; ``None`` when unknown."""
    group = next((pid for base, pid in _SERVER_GROUPS.items() if url.startswith(base)), None)
    if group is None or not os.path.isdir("/proc"):
        return None
    ticks = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(entry)) and int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class LoadResult:
    """What one load run measured: client-side latencies in seconds, and the CPU the server's
    processes used meanwhile (``server_cpu``, seconds; 0 when unknown)."""

    name: str
    requests: int
    errors: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    # Per round of compare(): that round's own result, to take ratios round by round.
    rounds: list[LoadResult] = field(default_factory=list)

    @property
    def cpu_per_request_us(self) -> float:
        """Server CPU per completed request in microseconds (0 when unknown)."""
        return self.server_cpu / self.requests * 1e6 if self.requests else 0.0

    @property
    def rate(self) -> float:
        """Completed requests per second over the run."""
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, p: float) -> float:
        """The ``p``-th percentile latency in milliseconds."""
        return percentile(self.latencies, p) * 1000


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of ``values``; 0 for an empty sequence."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _client(url: str, count: int, deadline: float, expect: bytes | None) -> tuple[list[float], int]:
    """One client process: ``count`` GETs on one keep-alive connection, stopping at ``deadline``.

    ``http.client`` rather than ``requests``: it costs the client far less CPU per request, so on
    a small machine the figures measure the server more than the load generator.
    """
    parsed = urlsplit(url)
    assert parsed.hostname is not None, url
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    latencies: list[float] = []
    errors = 0
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            try:
                connection.request("GET", target)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()  # reconnects on the next request
                continue
            latencies.append(time.perf_counter() - started)
            if response.status != 200 or (expect is not None and body != expect):
                errors += 1
    finally:
        connection.close()
    return latencies, errors


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_load(
    name: str,
    url: str,
    *,
    total: int,
    concurrency: int,
    time_limit: float,
    warmup: int = 50,
    expect: bytes | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> LoadResult:
    """Send ``total`` GETs to ``url`` from ``concurrency`` client processes (bounded in time).

    ``warmup`` requests per client go first and are not counted. With ``expect`` every body
    must equal it, else the request counts as an error.
    """
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=concurrency))
        urls = [url] * concurrency
        if warmup:
            warm_deadline = [time.monotonic() + time_limit] * concurrency
            list(
                pool.map(_client, urls, [warmup] * concurrency, warm_deadline, [None] * concurrency)
            )
        cpu_before = server_cpu_seconds(url)
        started = time.perf_counter()
        deadline = [time.monotonic() + time_limit] * concurrency
        parts = list(
            pool.map(_client, urls, _split(total, concurrency), deadline, [expect] * concurrency)
        )
        elapsed = time.perf_counter() - started
        cpu_after = server_cpu_seconds(url)
    latencies = [latency for part, _ in parts for latency in part]
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else 0.0
    errors = sum(errs for _, errs in parts)
    return LoadResult(name, len(latencies), errors, elapsed, latencies, cpu)


def compare(
    targets: Mapping[str, tuple[str, bytes | None]],
    *,
    total: int,
    concurrency: int,
    time_limit: float,
    rounds: int = 4,
) -> dict[str, LoadResult]:
    """Load every target in turn, ``rounds`` times, alternating the order each round.

    Interleaving spreads any drift of the machine (other processes, CPU frequency) over every
    target alike, so ratios between targets measured in one run stay meaningful. Each target
    gets ``total`` requests in all; ``time_limit`` bounds each round of each target.
    """
    merged = {name: LoadResult(name, 0, 0, 0.0) for name in targets}
    names = list(targets)
    with ProcessPoolExecutor(max_workers=concurrency) as pool:
        for round_number, count in enumerate(_split(total, rounds)):
            order = names if round_number % 2 == 0 else list(reversed(names))
            for name in order:
                url, expect = targets[name]
                part = run_load(
                    name,
                    url,
                    total=count,
                    concurrency=concurrency,
                    time_limit=time_limit,
                    warmup=50 if round_number == 0 else 10,
                    expect=expect,
                    pool=pool,
                )
                result = merged[name]
                result.requests += part.requests
                result.errors += part.errors
                result.elapsed += part.elapsed
                result.latencies.extend(part.latencies)
                result.server_cpu += part.server_cpu
                result.rounds.append(part)
    return merged


def round_ratios(ours: LoadResult, base: LoadResult) -> tuple[float, float]:
    """Medians over the rounds of ``compare`` of (req/s ours/base, CPU per request base/ours).

    A round's two loads run back to back, so its ratio sees one state of the machine; the median
    drops the rounds a burst of other work fell into, which the ratio of the totals does not
    (on a shared 2-core VM it moved 0.55-1.00 between runs of the same commit).
    """
    pairs = list(zip(ours.rounds, base.rounds, strict=True))
    rates = [a.rate / b.rate for a, b in pairs if b.rate]
    cpus = [b.cpu_per_request_us / a.cpu_per_request_us for a, b in pairs if a.cpu_per_request_us]
    return (statistics.median(rates) if rates else 0.0, statistics.median(cpus) if cpus else 0.0)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text table, the first row as header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
