"""Creating the queue topic (the ``partitions`` setting holds on a broker that auto-creates),
and starting a paused partition's fetch at once."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.clients import ensure_topic, fetch_from, paused_consumer
from plugins.queue_kafka.config import KafkaSettings

pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize("partitions", [1, 3])
def test_an_absent_topic_is_created_with_the_configured_partitions(kafka_settings, partitions):
    """Tansu (like Kafka by default) creates a topic that a metadata request names, with its
    own default partition count (4): looking the topic up must not be what creates it."""
    settings = kafka_settings(partitions=partitions)
    base = settings.client_config()

    assert ensure_topic(settings, base, 20) == partitions
    assert ensure_topic(settings, base, 20) == partitions  # found, not created again
    topics = AdminClient(base).list_topics(timeout=20).topics
    assert len(topics[settings.topic].partitions) == partitions


def test_a_queue_on_a_new_topic_uses_the_configured_partitions(kafka_settings):
    """The handle's view covers exactly the topic's partitions."""
    queue = KafkaQueue(kafka_settings(partitions=1))
    try:
        assert queue._partitions == 1
        assert list(queue._journal.states) == [0]
    finally:
        queue.close()


def test_a_fetch_from_the_consumers_own_position_starts_at_once(kafka_settings):
    """A handle's paused consumer resumed and sought to the offset its fetch position already
    holds (a new handle's first catch-up): librdkafka's fetcher slept about 0.75 s before
    fetching (measured here); fetch_from's neighbouring seek starts it at once."""
    settings = kafka_settings(partitions=1)
    KafkaQueue(settings).close()  # its sync marker is offset 0
    other = KafkaSettings(
        settings.bootstrap_servers, settings.topic, f"{uuid.uuid4().hex}.fresh", 1
    )  # a group with no committed offset: assigned at 0
    consumer, committed = paused_consumer(other, other.client_config(), 1, 20)
    try:
        assert committed == {0: 0}
        for _ in range(3):  # connected and idle, as a handle between operations
            assert consumer.poll(0.1) is None
        fetch_from(consumer, [TopicPartition(settings.topic, 0, 0)])
        msg = consumer.poll(0.4)  # a Tansu fetch answers in milliseconds
        assert msg is not None and msg.error() is None and msg.offset() == 0
    finally:
        consumer.close()
