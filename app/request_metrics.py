"""The HTTP request metrics, counted without a lock on the request path.

``junction_http_requests_total``, ``junction_http_request_duration_seconds`` and
``junction_http_requests_in_progress`` are ordinary prometheus_client metrics, but requests do not
write them one by one. Each thread keeps a tally of its own (plain integers and floats that only
that thread writes, so no lock), and :func:`flush` moves what every tally gained since the last
flush into the metrics: a thread of each process does so every
:data:`DEFAULT_FLUSH_SECONDS`, a scrape of ``/metrics`` does so first, and so does a gunicorn worker
that is leaving. The in-progress gauge is a sample taken at each flush.

Why: in multiprocess mode each metric write takes prometheus_client's one process-wide lock and
writes a memory-mapped file. Five of them a request cost ~5 µs in the process and, under
gunicorn's threads, several times that in throughput (measured with ``bench/http_overhead.py``).
A scrape may lag the requests by at most a flush interval, which a Prometheus server that scrapes
every 15 s or more never notices.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from flask import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "junction_http_requests_total",
    "HTTP requests by method, endpoint (route template) and status.",
    ["method", "endpoint", "status"],
)
BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf"))
LATENCY = Histogram(
    "junction_http_request_duration_seconds",
    "HTTP request latency by method, endpoint (route template) and status.",
    ["method", "endpoint", "status"],
    buckets=BUCKETS,
)
IN_PROGRESS = Gauge(
    "junction_http_requests_in_progress",
    "Requests being served (sampled when the request metrics are flushed).",
    multiprocess_mode="livesum",
)

DEFAULT_FLUSH_SECONDS = 1.0
# (method, endpoint, status) keys a thread's tally keeps: methods are the client's choice.
KEYS_PER_THREAD = 2048
_SUM = 1  # an entry is [count, sum of seconds, count per bucket...]

Key = tuple[str, str, int]


class Tally:
    """One thread's requests so far: ``active`` in flight, and per key a running entry. Only the
    owning thread writes it; :func:`flush` reads it (cumulative, so a half-written entry is
    simply caught up on by the next flush)."""

    __slots__ = ("active", "entries", "flushed")

    def __init__(self) -> None:
        self.active = 0
        self.entries: dict[Key, list[float]] = {}
        # What flush() has already moved into the metrics, per key (only flush() writes it).
        self.flushed: dict[Key, list[float]] = {}


class _State:
    """The process's tallies and flusher; replaced in a forked child, whose inherited counts
    belong to the parent."""

    def __init__(self) -> None:
        self.local = threading.local()
        # Tally -> the thread that owns it; a dead thread's tally is flushed once more and dropped.
        self.tallies: dict[Tally, weakref.ref[threading.Thread]] = {}
        self.lock = threading.Lock()  # register, flush: never taken on the request path
        self.flusher: threading.Thread | None = None
        self.interval = DEFAULT_FLUSH_SECONDS
        self.wake = threading.Event()


_state = _State()


def _reset_after_fork() -> None:
    global _state
    interval = _state.interval
    _state = _State()
    _state.interval = interval


os.register_at_fork(after_in_child=_reset_after_fork)


def configure(interval: float) -> None:
    """Flush every ``interval`` seconds (``JUNCTION_METRICS_FLUSH_SECONDS``)."""
    _state.interval = interval
    _state.wake.set()  # a flusher asleep on the old interval picks up the new one


def tally() -> Tally:
    """This thread's tally (made, registered and the flusher started on first use)."""
    try:
        return _state.local.tally  # type: ignore[no-any-return]
    except AttributeError:
        return _new_tally()


def _new_tally() -> Tally:
    state = _state
    own = Tally()
    with state.lock:
        state.tallies[own] = weakref.ref(threading.current_thread())
        if state.flusher is None:
            state.flusher = threading.Thread(
                target=_flush_forever, args=(state,), name="junction-metrics", daemon=True
            )
            state.flusher.start()
    state.local.tally = own
    return own


def record(own: Tally, method: str, endpoint: str, status: int, seconds: float) -> None:
    """Count one finished request in ``own`` (the calling thread's tally)."""
    key = (method, endpoint, status)
    entry = own.entries.get(key)
    if entry is None:
        if len(own.entries) >= KEYS_PER_THREAD:
            # Past the bound the tally keeps no more label sets, but the request still counts:
            # straight into the metrics, as every request did before tallies.
            labels = (method, endpoint, str(status))
            LATENCY.labels(*labels).observe(seconds)
            REQUESTS.labels(*labels).inc()
            return
        entry = own.entries[key] = [0.0] * (2 + len(BUCKETS))
    entry[0] += 1
    entry[_SUM] += seconds
    index = 2
    for bound in BUCKETS:
        if seconds <= bound:
            entry[index] += 1
            break
        index += 1


def flush() -> None:
    """Move every tally's gains since the last flush into the metrics, and sample the
    in-progress gauge."""
    state = _state
    with state.lock:
        active = 0
        for own, owner in list(state.tallies.items()):
            _flush_tally(own)
            thread = owner()
            if thread is None or not thread.is_alive():
                del state.tallies[own]
            else:
                active += own.active
        IN_PROGRESS.set(active)


def _flush_tally(own: Tally) -> None:
    for key, entry in list(own.entries.items()):
        done = own.flushed.get(key) or [0.0] * len(entry)
        current = list(entry)  # one consistent-enough copy: later gains wait for the next flush
        count = current[0] - done[0]
        if not count:
            continue
        method, endpoint, status = key
        labels = (method, endpoint, str(status))
        REQUESTS.labels(*labels).inc(count)
        child: Any = LATENCY.labels(*labels)
        # prometheus_client has no batch observe: add to the histogram's sum and buckets as
        # observe() itself does, one bucket per request, the first whose bound holds it.
        child._sum.inc(current[_SUM] - done[_SUM])
        for index, bucket in enumerate(child._buckets):
            gained = current[2 + index] - done[2 + index]
            if gained:
                bucket.inc(gained)
        own.flushed[key] = current


def _flush_forever(state: _State) -> None:
    while state is _state:
        state.wake.wait(state.interval)
        state.wake.clear()
        if state is _state:
            flush()


def metrics_registry() -> CollectorRegistry:
    """The registry ``/metrics`` exposes: every worker's samples in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


def metrics_response() -> Response:
    """Prometheus text exposition of :func:`metrics_registry`, this process's requests
    flushed first."""
    flush()
    return Response(generate_latest(metrics_registry()), mimetype=CONTENT_TYPE_LATEST)
