"""The test plugin of the partition tests (plus the process that runs it: ``python -m
tests.partition.probe``).

Its job appends ``"<unix time>"`` to ``$PARTITION_DIR/runs-<host>.txt`` on every run; its
operation ``partprobe.calls`` makes several calls to the recording external service between
checkpoints, checking its lease before each, like a handler that exports in batches.
The process runs the app with the scheduler on (leader or standby, and operation runners)
until SIGTERM; with ``PARTITION_ROLE=publisher`` it also publishes an event every 50 ms, with
``subscriber`` it records every event it receives to ``$PARTITION_DIR/received-<host>.txt``.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import requests

from app.hookspecs import hookimpl

HOST = os.environ.get("PARTITION_HOST", "?")
CALLS_PER_CHECKPOINT = 100


def _append(name: str, line: str) -> None:
    fd = os.open(Path(os.environ["PARTITION_DIR"]) / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def record_run() -> None:
    """The leader's job: note the time of this run."""
    _append(f"runs-{HOST}.txt", f"{time.time():.3f}")


def calls(ctx: Any) -> dict[str, int]:
    """Call the external service ``CALLS_PER_CHECKPOINT`` times per checkpoint."""
    step = int(ctx.checkpoint.get("step", 0))
    while step < int(ctx.params["steps"]):
        for call in range(CALLS_PER_CHECKPOINT):
            ctx.check_lease()
            requests.post(
                os.environ["PARTITION_RECORDER"],
                json={"host": HOST, "op": ctx.id, "step": step, "call": call},
                timeout=5,
            )
            time.sleep(0.05)  # the work between two calls
        step += 1
        ctx.save_checkpoint({"step": step})
    return {"steps": step}


#: The probe is the plugin ``partprobe``: its events follow the namespace rule.
CHANNEL = "partprobe:ticks"


@hookimpl
def junction_jobs(scheduler: Any) -> None:
    """The recording job, every 0.1 s."""
    scheduler.add(record_run, seconds=0.1, id="probe")


@hookimpl
def junction_operations() -> dict[str, Any]:
    """The batch-calling operation."""
    return {"partprobe.calls": calls}


def _publish(app: Any, stop: threading.Event) -> None:
    from app import events

    number = 0
    while not stop.wait(0.05):
        try:
            with app.app_context():
                events.publish(CHANNEL, "tick", {"n": number, "at": time.time()})
            number += 1
        except Exception:  # the database is what the test cuts, sometimes
            time.sleep(0.2)


def _subscribe(app: Any, stop: threading.Event) -> None:
    from app import events

    with app.app_context():
        sub = events.subscribe([CHANNEL], after=0)
        _append(f"ready-{HOST}.txt", "subscribed")
        while not stop.is_set():
            for item in sub.get(timeout=0.5):
                data = item.get("data") or {}
                line = {"id": item.get("id"), "n": data.get("n"), "sent": data.get("at")}
                _append(f"received-{HOST}.txt", json.dumps({**line, "got": time.time()}))


def main() -> None:
    """Run the app (scheduler on) until SIGTERM."""
    import sys

    from app import create_app

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if os.environ.get("PARTITION_BEFORE"):
        # Measure the old behaviour: no server-side silence timeout on the election session.
        from app.scheduler import election

        election.PgAdvisoryElector.session_settings = lambda self: {}  # type: ignore[method-assign]
    app = create_app(extra_plugins=[("partprobe", sys.modules[__name__])])
    role = os.environ.get("PARTITION_ROLE", "")
    if role == "publisher":
        threading.Thread(target=_publish, args=(app, stop), daemon=True).start()
    if role == "subscriber":
        threading.Thread(target=_subscribe, args=(app, stop), daemon=True).start()
    _append(f"ready-{HOST}.txt", "started")
    stop.wait()
    from app.scheduler import get_service

    get_service(app).stop()


if __name__ == "__main__":
    main()
