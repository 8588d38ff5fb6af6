"""A Tansu broker for the whole session (started on a free port, killed at the end)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from plugins.queue_kafka.config import KafkaSettings
from plugins.queue_kafka.tansu import TansuBroker, TansuUnavailable


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a running Tansu broker; the tests skip only if Tansu cannot run here."""
    broker = TansuBroker()
    try:
        broker.start()
    except TansuUnavailable as exc:
        pytest.skip(f"Kafka tests need the Tansu broker: {exc}")
    yield broker.bootstrap
    broker.stop()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> Callable[..., KafkaSettings]:
    """Settings on a topic and group of the test's own (``partitions`` may be given)."""
    name = f"t{uuid.uuid4().hex[:12]}"

    def make(**overrides: object) -> KafkaSettings:
        values = {
            "bootstrap_servers": kafka_bootstrap,
            "topic": f"{name}.queue",
            "group_id": f"{name}.workers",
            "operation_timeout": 20,
            **overrides,
        }
        return KafkaSettings(**values)  # type: ignore[arg-type]

    return make
