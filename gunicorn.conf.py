"""gunicorn settings for Junction: threaded workers, multiprocess metrics, safe access logs, and
a worker that leaves cleanly: on SIGTERM (and SIGINT/SIGQUIT, and whenever it exits) it steps
down from scheduler leadership, stops its scheduler and ends its open WebSocket/SSE streams, so
shutdown takes seconds instead of the graceful timeout and no job is submitted while the
interpreter shuts down.

Every value can be changed by the environment (``JUNCTION_BIND``, ``JUNCTION_WORKERS``,
``JUNCTION_THREADS``, ``JUNCTION_ACCESS_LOG``) or by gunicorn's own command-line flags, which win
over this file. See docs/deployment.md.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import tempfile
import threading

bind = os.environ.get("JUNCTION_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("JUNCTION_WORKERS", "2"))
# Threads let one worker hold WebSocket/SSE streams while still answering requests.
worker_class = "gthread"
threads = int(os.environ.get("JUNCTION_THREADS", "8"))
timeout = 60
# Streams end as soon as a worker is told to stop (see post_worker_init); this bounds the rest.
graceful_timeout = 20
keepalive = 5
# Heartbeat files on tmpfs: a worker blocked on a slow disk is not killed as hung.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# gunicorn >= 25 opens a control socket at one fixed path per user; several servers on a host (or
# a test run beside a dev server) would fight over it. Opt in with a path of your own.
_control_socket = os.environ.get("JUNCTION_CONTROL_SOCKET", "")
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True

# The path without its query string: tokens passed as query parameters never reach the log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'
_access_log = os.environ.get("JUNCTION_ACCESS_LOG", "-")
accesslog = None if _access_log.lower() in {"", "off", "none", "false", "0"} else _access_log

# With JUNCTION_LOG_FORMAT=json gunicorn's own lines are JSON too, through the same formatter
# and filter as the application's (request id and plugin on every line, secrets redacted).
if os.environ.get("JUNCTION_LOG_FORMAT", "").strip().lower() == "json":
    logconfig_dict = {
        "root": {"level": "INFO", "handlers": []},
        "filters": {"context": {"()": "app.observability.ContextFilter"}},
        "formatters": {"json": {"()": "app.observability.JsonFormatter"}},
        "handlers": {
            "json_stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stdout",
            },
            "json_stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json_stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["json_stdout"], "propagate": False},
        },
    }

# prometheus_client's multiprocess mode: every worker writes its samples to this folder and
# /metrics sums them, so counters are right whichever worker answers the scrape. It must be set
# before any worker imports prometheus_client, which is why it is done here.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="junction-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
os.makedirs(_metrics_dir, exist_ok=True)


def on_starting(server):
    """Start from an empty metrics folder so a restart does not add stale samples."""
    for name in os.listdir(_metrics_dir):
        path = os.path.join(_metrics_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def _leave():
    """Step down from scheduler leadership, stop the scheduler, end every open stream of this
    worker and flush its request metrics (idempotent: called on the signal and again on exit)."""
    from app import request_metrics
    from app.events.hub import close_streams
    from app.scheduler.service import stop_all

    close_streams(final=True)  # first: the threads these streams hold are what a stop waits on
    stop_all()
    request_metrics.flush()  # the last interval's request counts


def post_fork(server, worker):
    """Tell the worker how many threads it has: its default stream cap keeps a quarter of them
    for plain requests (JUNCTION_STREAMS_MAX_PER_WORKER)."""
    os.environ["JUNCTION_WORKER_THREADS"] = str(worker.cfg.threads)


def post_worker_init(worker):
    """Leave on SIGTERM at once. gunicorn's own SIGTERM handler only stops accepting and then
    waits for open connections, which streams never close by themselves; ``worker_exit`` runs
    only after that wait, so this handler wraps gunicorn's and ends the streams right away."""
    gunicorn_handler = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        if callable(gunicorn_handler):
            gunicorn_handler(signum, frame)
        # Not in the handler itself: stopping the scheduler joins its thread.
        threading.Thread(target=_leave, name="junction-leave").start()

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn set it: do not break requests
    # The application is loaded now: its ~200,000 long-lived objects (modules, SQLAlchemy and
    # marshmallow metadata, plugins) never become garbage, yet every older-generation collection
    # walked them again (1.6 ms each, about once a thousand requests). Freezing moves them out
    # of the collector's way; objects made from here on are collected as before.
    gc.collect()
    gc.freeze()


def worker_int(worker):
    """SIGINT/SIGQUIT: the worker exits at once; leave first."""
    _leave()


def worker_exit(server, worker):
    """The worker is exiting (whatever the cause): make sure it has left before the
    interpreter shuts down."""
    _leave()


def child_exit(server, worker):
    """Tell prometheus_client that a worker died so its live gauges are dropped."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this file created (an operator's own folder is kept)."""
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
