"""A process that hammers a file queue, for the SIGKILL and concurrency tests.

``python -m tests.plugins.builds.queue_worker_proc enqueue DIR`` enqueues items forever and
prints each id once ``enqueue`` returned; ``lease DIR`` leases items (1 h visibility), printing
each id it got, without acking; ``drain DIR`` leases and acks until the queue is empty, printing
each id it acknowledged.
"""

from __future__ import annotations

import itertools
import sys
import uuid

from plugins.builds.queue_base import QueueItem
from plugins.builds.queue_file import FileQueue


def main(mode: str, directory: str) -> None:
    """Run ``mode`` on the queue in ``directory``."""
    queue = FileQueue(directory)
    if mode == "enqueue":
        for n in itertools.count():
            item = QueueItem(
                id=uuid.uuid4().hex,
                package=f"pkg{n}-{uuid.uuid4().hex[:6]}",
                version="1.0",
                recipes={"apt": ["x" * 200] * 20},
            )
            stored, _ = queue.enqueue(item)
            print(stored.id, flush=True)
    elif mode == "lease":
        while True:
            lease = queue.lease("lease-proc", 3600)
            if lease is not None:
                print(lease.item.id, flush=True)
    elif mode == "drain":
        while (lease := queue.lease("drain-proc", 3600)) is not None:
            if queue.ack(lease.item.id, lease.token):
                print(lease.item.id, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
