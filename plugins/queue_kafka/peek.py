"""The last records of a partition, read without applying anything before them.

A handle that considers leasing from a partition it has not read for a while only needs to know
how fast others are acking there (:mod:`plugins.queue_kafka.pace`); catching its view up would
mean reading every record since its last look (on a busy partition, thousands), and when the
answer is "its worker is fast, leave it alone" all of that was wasted. A peek reads the high
watermark (``ListOffsets``) and fetches the last few records. The watermark may be a little
stale on Tansu; a peek that misses the newest records only makes the partition look idle, and
the handle then catches up as it would have without the peek, so the peek never decides wrongly
in the direction that matters.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from plugins.queue_kafka.clients import fetch_from

log = logging.getLogger("plugins.queue_kafka.backend")

PEEK_RECORDS = 24  # records read from a partition's end (acks are about a third of them)
PEEK_WAIT = 0.5  # seconds a peek waits for its records at most: it is only an optimisation
PEEK_REFETCH = 0.2  # seconds after which the partitions still awaited are fetched again


def peek_tails(
    consumer: Consumer, topic: str, partitions: list[int], count: int = PEEK_RECORDS
) -> dict[int, list[tuple[int, bytes]]]:
    """``(offset, value)`` of up to the last ``count`` records of each partition, oldest first;
    a partition whose records did not all come within PEEK_WAIT is left out (the caller then
    knows nothing new of it). ``consumer`` must have the partitions assigned and paused: they
    are resumed for the peek and paused again."""
    ranges: dict[int, tuple[int, int]] = {}
    try:
        for p in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=PEEK_WAIT, cached=False
            )
            if high > low:
                ranges[p] = (max(low, high - count), high)
    except KafkaException as exc:
        log.info("queue_kafka: no watermarks for a peek (%s)", exc.args[0].name())
        return {}
    tails: dict[int, list[tuple[int, bytes]]] = {p: [] for p in ranges}
    tps = [TopicPartition(topic, p, start) for p, (start, _) in ranges.items()]
    if not tps:
        return {}
    fetch_from(consumer, tps)
    waiting = set(ranges)
    started = time.monotonic()
    refetch_at = started + PEEK_REFETCH
    try:
        while waiting and time.monotonic() < started + PEEK_WAIT:
            if time.monotonic() >= refetch_at:
                # A fetch answers in milliseconds: set one that went astray going again, as
                # a catch-up does (plugins.queue_kafka.stalls).
                refetch_at = float("inf")
                again = [TopicPartition(topic, p, ranges[p][0]) for p in sorted(waiting)]
                fetch_from(consumer, again)
                for tp in again:
                    tails[tp.partition] = []
            # consume() waits for all its messages: poll() returns with the first one.
            first = consumer.poll(0.05)
            batch = [first, *consumer.consume(500, 0)] if first is not None else []
            done = set()
            for msg in batch:
                partition, offset, error = msg.partition(), msg.offset(), msg.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    log.info("queue_kafka: a peek's fetch failed (%s)", error)
                if error is not None or partition not in waiting or offset is None:
                    continue
                start, high = ranges[partition]
                # Tansu's high watermark is the last batch's first offset: the rest of that
                # batch lies past it (kept when it comes in the same fetch response).
                if offset >= start:
                    tails[partition].append((offset, msg.value() or b""))
                if offset >= high - 1:
                    done.add(partition)
            waiting -= done  # after the whole batch: the rest of the last one is kept too
    finally:
        consumer.pause(tps)
    return {p: tail for p, tail in tails.items() if p not in waiting}
