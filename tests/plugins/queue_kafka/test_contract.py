"""The shared queue-backend contract on Kafka (Tansu), with one and with three partitions."""

from __future__ import annotations

import pytest

from plugins.builds.testing import QueueBackendContract
from plugins.queue_kafka.backend import KafkaQueue


class TestKafkaQueueContract(QueueBackendContract):
    """Every behaviour of the contract, on a one-partition topic (FIFO over the whole queue)."""

    @pytest.fixture
    def queue_backend_factory(self, kafka_settings):
        """Handles on one topic and consumer group."""
        settings = kafka_settings()
        return lambda clock: KafkaQueue(settings, clock)
