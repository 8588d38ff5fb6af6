"""Request metrics counted in per-thread tallies and flushed into prometheus_client."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from prometheus_client import REGISTRY

from app import request_metrics
from tests.support import wait_until


def _endpoint() -> str:
    return f"/test-metrics/{uuid.uuid4().hex}"


def _value(name: str, endpoint: str, **extra: str) -> float:
    labels = {"method": "GET", "endpoint": endpoint, "status": "200", **extra}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _count(endpoint: str) -> float:
    return _value("junction_http_requests_total", endpoint)


def test_flush_moves_counts_sum_and_bucket_once() -> None:
    endpoint = _endpoint()
    own = request_metrics.tally()
    request_metrics.record(own, "GET", endpoint, 200, 0.003)
    request_metrics.record(own, "GET", endpoint, 200, 0.003)
    assert _count(endpoint) == 0  # nothing reaches the metrics before a flush

    request_metrics.flush()
    assert _count(endpoint) == 2
    duration = "junction_http_request_duration_seconds"
    assert _value(duration + "_count", endpoint) == 2
    assert _value(duration + "_sum", endpoint) == pytest.approx(0.006)
    assert _value(duration + "_bucket", endpoint, le="0.0025") == 0
    assert _value(duration + "_bucket", endpoint, le="0.005") == 2
    assert _value(duration + "_bucket", endpoint, le="+Inf") == 2

    request_metrics.flush()  # nothing new: nothing added twice
    assert _count(endpoint) == 2
    request_metrics.record(own, "GET", endpoint, 200, 20.0)  # past the last finite bound
    request_metrics.flush()
    assert _count(endpoint) == 3
    assert _value(duration + "_bucket", endpoint, le="10.0") == 2
    assert _value(duration + "_bucket", endpoint, le="+Inf") == 3


def test_no_count_is_lost_while_threads_record_and_flushes_run() -> None:
    endpoint, per_thread, threads = _endpoint(), 3000, 4
    stop = threading.Event()

    def work() -> None:
        own = request_metrics.tally()
        for _ in range(per_thread):
            request_metrics.record(own, "GET", endpoint, 200, 0.01)

    def keep_flushing() -> None:
        while not stop.is_set():
            request_metrics.flush()

    flusher = threading.Thread(target=keep_flushing)
    flusher.start()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    flusher.join()
    request_metrics.flush()
    assert _count(endpoint) == per_thread * threads
    duration = "junction_http_request_duration_seconds"
    assert _value(duration + "_count", endpoint) == per_thread * threads
    assert _value(duration + "_sum", endpoint) == pytest.approx(0.01 * per_thread * threads)


def test_a_finished_threads_tally_is_flushed_once_more_then_dropped() -> None:
    endpoint = _endpoint()
    made: list[request_metrics.Tally] = []

    def work() -> None:
        own = request_metrics.tally()
        made.append(own)
        request_metrics.record(own, "GET", endpoint, 200, 0.01)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    request_metrics.flush()
    assert _count(endpoint) == 1
    assert made[0] not in request_metrics._state.tallies


def test_in_progress_is_sampled_at_each_flush(client) -> None:
    gauge = "junction_http_requests_in_progress"
    entered, release = threading.Event(), threading.Event()
    app = client.application

    @app.get("/test-metrics/slow")
    def slow() -> str:
        entered.set()
        release.wait(10)
        return "done"

    request_metrics.flush()
    assert REGISTRY.get_sample_value(gauge) == 0
    answers: list[int] = []
    caller = threading.Thread(
        target=lambda: answers.append(app.test_client().get("/test-metrics/slow").status_code)
    )
    caller.start()
    try:
        assert entered.wait(10)
        request_metrics.flush()
        assert REGISTRY.get_sample_value(gauge) == 1
    finally:
        release.set()
        caller.join()
    request_metrics.flush()
    assert answers == [200]
    assert REGISTRY.get_sample_value(gauge) == 0


def test_the_flusher_thread_flushes_by_itself() -> None:
    endpoint = _endpoint()
    request_metrics.configure(0.01)
    try:
        request_metrics.record(request_metrics.tally(), "GET", endpoint, 200, 0.01)
        wait_until(lambda: _count(endpoint) == 1, timeout=10, what="the flusher's flush")
    finally:
        request_metrics.configure(request_metrics.DEFAULT_FLUSH_SECONDS)


def test_a_scrape_flushes_this_process_first(client) -> None:
    before = _count("/healthz")
    assert client.get("/healthz").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    line = 'junction_http_requests_total{endpoint="/healthz",method="GET",status="200"}'
    counted = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
    assert counted == [before + 1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_flush_its_parents_counts_again() -> None:
    endpoint = _endpoint()
    request_metrics.record(request_metrics.tally(), "GET", endpoint, 200, 0.01)
    # Forked while holding the flush lock: the flusher thread cannot be halfway through a flush
    # (holding prometheus_client's locks) at the moment of the fork.
    with request_metrics._state.lock:
        pid = os.fork()
    if pid == 0:  # the child: its flush must not add the parent's unflushed request
        try:
            request_metrics.flush()
            os._exit(0 if _count(endpoint) == 0 and not request_metrics._state.tallies else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    request_metrics.flush()
    assert _count(endpoint) == 1


def test_a_thread_keeps_a_bounded_number_of_label_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound a request is counted straight into the metrics, not lost."""
    monkeypatch.setattr(request_metrics, "KEYS_PER_THREAD", 2)
    endpoint = _endpoint()
    kept: list[int] = []

    def work() -> None:
        own = request_metrics.tally()
        for method in ("GET", "PUT", "BREW"):
            request_metrics.record(own, method, endpoint, 200, 0.01)
        kept.append(len(own.entries))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert kept == [2]
    labels = {"method": "BREW", "endpoint": endpoint, "status": "200"}
    assert REGISTRY.get_sample_value("junction_http_requests_total", labels) == 1  # no flush
    request_metrics.flush()
    for method in ("GET", "PUT", "BREW"):
        labels["method"] = method
        assert REGISTRY.get_sample_value("junction_http_requests_total", labels) == 1
        assert (
            REGISTRY.get_sample_value("junction_http_request_duration_seconds_count", labels) == 1
        )
