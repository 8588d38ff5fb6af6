"""A process working a Kafka queue, for the SIGKILL and concurrency tests.

``python -m tests.plugins.queue_kafka.kafka_worker_proc MODE SETTINGS_JSON``: ``lease`` leases
items (1 h visibility) and prints each id, never acking; ``work VISIBILITY`` leases and acks
forever, printing each id whose ack returned True; ``drain`` leases and acks until the queue is
empty, printing each id acked; ``once`` leases and acks one item and exits without closing
the handle (as ``junction builds worker --once`` does).
"""

from __future__ import annotations

import json
import sys
import time

from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.config import KafkaSettings


def main(mode: str, settings_json: str, *args: str) -> None:
    """Run ``mode`` on the queue the settings name."""
    queue = KafkaQueue(KafkaSettings(**json.loads(settings_json)))
    print("ready", flush=True)
    if mode == "lease":
        while True:
            lease = queue.lease("lease-proc", 3600)
            if lease is not None:
                print(lease.item.id, flush=True)
    elif mode == "work":
        visibility = float(args[0])
        while True:
            lease = queue.lease("work-proc", visibility)
            if lease is None:
                time.sleep(0.05)  # a worker's idle poll interval (each empty lease writes a record)
            elif queue.ack(lease.item.id, lease.token):
                print(lease.item.id, flush=True)
    elif mode == "once":
        lease = queue.lease("once-proc", 3600)
        if lease is not None and queue.ack(lease.item.id, lease.token):
            print(lease.item.id, flush=True)
    elif mode == "drain":
        while (lease := queue.lease("drain-proc", 3600)) is not None:
            if queue.ack(lease.item.id, lease.token):
                print(lease.item.id, flush=True)
        queue.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
