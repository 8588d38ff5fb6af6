"""gunicorn settings for Junction: threaded workers, multiprocess metrics, safe access logs."""

from __future__ import annotations

import os
import shutil
import tempfile

bind = os.environ.get("JUNCTION_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("JUNCTION_WORKERS", "2"))
# Threads let one worker hold WebSocket/SSE streams while still answering requests.
worker_class = "gthread"
threads = int(os.environ.get("JUNCTION_THREADS", "8"))
timeout = 60
graceful_timeout = 20
keepalive = 5
# The path without its query string: tokens passed as query parameters never reach the log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'
accesslog = os.environ.get("JUNCTION_ACCESS_LOG", "-")

# prometheus_client's multiprocess mode: every worker writes its samples to this folder and
# /metrics sums them, so counters are right whichever worker answers the scrape.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="junction-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    """Start from an empty metrics folder so a restart does not add stale samples."""
    for name in os.listdir(_metrics_dir):
        path = os.path.join(_metrics_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def child_exit(server, worker):
    """Tell prometheus_client that a worker died so its live gauges are dropped."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
