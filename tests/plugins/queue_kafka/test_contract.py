"""The shared queue-backend contract on Kafka (Tansu), with one and with three partitions."""

from __future__ import annotations

import dataclasses

import pytest

from plugins.builds.testing import QueueBackendContract
from plugins.queue_kafka.backend import KafkaQueue

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free


class TestKafkaQueueContract(QueueBackendContract):
    """Every behaviour of the contract, on a one-partition topic (FIFO over the whole queue)."""

    # The 10,000-item random-kill run is test_kill.py's own (it checks the log itself: every item
    # acked exactly once); the contract's generic one runs 1,000 here, not the same work twice.
    stress_items = 1_000
    # Oldest first by enqueue time, but items enqueued within the same clock tick may be leased
    # in any order (docs/queue_kafka.md), so the strict 50-item FIFO check does not apply.
    promises_fifo = False
    stress_kills = 3

    @pytest.fixture
    def kafka_queue_settings(self, kafka_settings):
        """One topic and consumer group for the test."""
        return kafka_settings()

    @pytest.fixture
    def queue_backend_factory(self, kafka_queue_settings):
        """Handles on one topic and consumer group."""
        return lambda clock: KafkaQueue(kafka_queue_settings, clock)

    @pytest.fixture
    def queue_process_spec(self, kafka_queue_settings) -> dict:
        """How a consumer process opens the same queue."""
        return {
            "factory": "plugins.queue_kafka.backend:open_queue",
            "args": dataclasses.asdict(kafka_queue_settings),
        }
