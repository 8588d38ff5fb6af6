"""The consumer group's committed offsets: where a new handle replays from, committed by the
handles (:func:`commit_offsets`), and where a handle far behind may start a partition over
(:func:`skip_starts`).

A replay from the committed offset gives every pending item the state a replay from offset 0
gives (that is how a new handle starts, :mod:`plugins.queue_kafka.journal`), so a handle whose
position lies before it may drop its state of the partition and replay from there: the records
in between concern settled items only. It must not start past a record of its own whose outcome
it awaits, since that outcome is read from the log. On Tansu, where a fetch costs in proportion
to the records it returns, this keeps a handle that was idle while others worked (a dashboard's
``stats``) from reading the whole history since its last look (docs/queue_kafka.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from plugins.queue_kafka.journal import PartitionState

log = logging.getLogger("plugins.queue_kafka.backend")

# A catch-up at least this many records long first asks the group where a replay may start.
SKIP_MIN = 500


def skip_starts(
    consumer: Consumer,
    topic: str,
    partitions: list[int],
    awaited: Iterable[tuple[int, int]],
    timeout: float,
) -> dict[int, tuple[int, int]]:
    """For each of ``partitions`` with a committed offset: that offset, and where a replay may
    start (the committed offset, lowered to the first ``(partition, offset)`` in ``awaited``).
    Empty when the group does not answer: the skip is only a shortcut."""
    asked = [TopicPartition(topic, p) for p in partitions]
    try:
        found = consumer.committed(asked, timeout=timeout)
    except KafkaException as exc:
        log.info("queue_kafka: committed offsets unavailable (%s)", exc.args[0].name())
        return {}
    waits = list(awaited)
    starts = {}
    for tp in found:
        if tp.error is None and tp.offset >= 0:
            start = min([tp.offset, *(o for p, o in waits if p == tp.partition)])
            starts[tp.partition] = (tp.offset, start)
    return starts


def commit_offsets(
    consumer: Consumer,
    topic: str,
    states: Mapping[int, PartitionState],
    committed: dict[int, int],
    wait: bool,
) -> None:
    """Commit each partition's replay offset where it rose past ``committed`` (updated in
    place); synchronously if ``wait`` (as on close), else in the background."""
    offsets = []
    for partition, state in states.items():
        low = state.commit_offset()
        if low > committed[partition]:
            committed[partition] = low
            offsets.append(TopicPartition(topic, partition, low))
    if offsets and wait:
        consumer.commit(offsets=offsets, asynchronous=False)
    elif offsets:
        consumer.commit(offsets=offsets, asynchronous=True)
