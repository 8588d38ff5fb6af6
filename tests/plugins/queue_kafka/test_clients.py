"""Creating the queue topic: the ``partitions`` setting holds on a broker that auto-creates."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient

from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.clients import ensure_topic

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
