"""The Kafka clients a queue handle starts from: the topic (created if absent), the
process's shared idempotent producer and the handle's consumer of every partition."""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from plugins.queue_kafka.config import KafkaSettings

log = logging.getLogger("plugins.queue_kafka.backend")

FETCH_WAIT_MS = 5  # how long an idle fetch waits on the broker (see docs/queue_kafka.md)


def ensure_topic(settings: KafkaSettings, base: dict[str, Any], timeout: float) -> int:
    """Create ``settings.topic`` if absent; its number of partitions."""
    # librdkafka's clients take a logging.Logger as "logger"; the stubs allow only scalars.
    # Without "allow.auto.create.topics": false, asking for the metadata of an absent topic
    # makes a broker that auto-creates topics (Tansu, Kafka's default) create it with the
    # broker's default partition count, and ``settings.partitions`` would be ignored.
    admin = AdminClient(
        {**base, "logger": log, "allow.auto.create.topics": False}  # type: ignore[dict-item]
    )
    topic = settings.topic
    found = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=settings.partitions, replication_factor=-1)]
        )
        try:
            futures[topic].result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        found = admin.list_topics(topic=topic, timeout=timeout).topics[topic]
    return len(found.partitions)


_PRODUCERS: dict[tuple[int, str], Producer] = {}
_PRODUCERS_LOCK = threading.Lock()


def shared_producer(config: dict[str, Any]) -> Producer:
    """One idempotent producer per process and configuration, shared by its handles.

    An idempotent producer's first delivery waits for its producer id (0.5-1 s on Tansu);
    sharing it makes a new handle cheap. Keyed by pid: a producer does not survive a fork.
    """
    key = (os.getpid(), json.dumps(config, sort_keys=True))
    with _PRODUCERS_LOCK:
        if key not in _PRODUCERS:
            _PRODUCERS[key] = Producer({**config, "logger": log})
        return _PRODUCERS[key]


def paused_consumer(
    settings: KafkaSettings, base: dict[str, Any], partitions: int, timeout: float
) -> tuple[Consumer, dict[int, int]]:
    """A consumer ``assign()``ed every partition (no group join) from the group's committed
    offsets, all paused; and those offsets (0 where none was committed)."""
    consumer = Consumer(
        {
            **base,
            "logger": log,
            "group.id": settings.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # Reads of other handles' records wait for the next fetch: do not linger.
            "fetch.wait.max.ms": FETCH_WAIT_MS,
            "fetch.error.backoff.ms": 10,
        }
    )
    found = consumer.committed(
        [TopicPartition(settings.topic, p) for p in range(partitions)], timeout=timeout
    )
    committed = {tp.partition: max(tp.offset, 0) for tp in found}
    assignment = [TopicPartition(settings.topic, p, o) for p, o in committed.items()]
    consumer.assign(assignment)
    # Fetch on demand only (TopicJournal.catch_up): following every partition continuously
    # made the broker serve every record to every handle, its own included, and on Tansu a
    # fetch costs in proportion to the partition's length (docs/queue_kafka.md).
    consumer.pause(assignment)
    return consumer, committed


def fetch_from(consumer: Consumer, tps: list[TopicPartition]) -> None:
    """Resume ``tps`` (paused) and start fetching each from its offset at once.

    librdkafka (2.16 here) leaves a partition's fetcher asleep for up to a second when the
    resume and seek land on the offset its fetch position already holds, as in a new handle's
    first catch-up from its assigned offset: a second handle on a fresh topic took 1 s to be
    ready instead of 0.1 s. A seek to a neighbouring offset first makes the real seek a change
    of position, which wakes the fetcher; the real seek's version barrier drops anything the
    first one fetched, so no record is skipped or delivered out of place.
    """
    consumer.resume(tps)
    for tp in tps:
        neighbour = tp.offset - 1 if tp.offset > 0 else tp.offset + 1
        consumer.seek(TopicPartition(tp.topic, tp.partition, neighbour))
        consumer.seek(tp)
