"""A consumer process for the contract suite's process tests (any backend).

``python -m plugins.builds.queue_proc MODE SPEC`` where ``SPEC`` is JSON
``{"factory": "package.module:callable", "args": {...}}``: ``callable(**args)`` opens a handle
on the queue under test with the real clock. Modes:

- ``hold VISIBILITY``: lease one item, print ``L <id>`` and wait for stdin to close (so the
  test can kill it between lease and ack);
- ``drain VISIBILITY``: print ``R`` when ready, wait for a line on stdin (so that several
  drains start together), then lease and ack until nothing is available, printing ``L <id>``
  after each lease and ``A <id>`` after each successful ack;
- ``consume VISIBILITY``: the same, forever (polling briefly when nothing is available), for
  the random-kill test.

Every line is flushed at once: a line on stdout means the operation had returned.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from plugins.builds.queue_base import QueueBackend

IDLE_POLL = 0.005


def open_backend(spec: Mapping[str, Any]) -> QueueBackend:
    """The handle ``spec`` describes (see the module docstring)."""
    module_name, _, attribute = str(spec["factory"]).partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    backend: QueueBackend = factory(**dict(spec.get("args") or {}))
    return backend


def _say(tag: str, item_id: str) -> None:
    sys.stdout.write(f"{tag} {item_id}\n")
    sys.stdout.flush()


def run(mode: str, spec: Mapping[str, Any], visibility: float) -> None:
    """Run ``mode`` against the queue of ``spec``."""
    queue = open_backend(spec)
    worker = f"{mode}-proc"
    if mode == "hold":
        while (lease := queue.lease(worker, visibility)) is None:
            time.sleep(IDLE_POLL)  # a worker's idle poll, not a synchronisation
        _say("L", lease.item.id)
        sys.stdin.read()
        return
    if mode == "drain":
        _say("R", "-")
        sys.stdin.readline()
    while True:
        lease = queue.lease(worker, visibility)
        if lease is None:
            if mode == "drain":
                return
            time.sleep(IDLE_POLL)
            continue
        _say("L", lease.item.id)
        if queue.ack(lease.item.id, lease.token):
            _say("A", lease.item.id)


if __name__ == "__main__":
    run(sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]))
