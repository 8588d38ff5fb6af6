"""The Redis backend runs the shared contract suite (with JUNCTION_TEST_REDIS_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from plugins.builds.testing import QueueBackendContract
from plugins.queue_redis.backend import RedisQueue

REDIS_URL = os.environ.get("JUNCTION_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not REDIS_URL, reason="needs JUNCTION_TEST_REDIS_URL (a Redis server)"),
]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of its own per test, removed afterwards."""
    name = f"junction-test:{uuid.uuid4().hex}"
    yield name
    queue = RedisQueue(str(REDIS_URL), prefix=name)
    queue.clear()
    queue.client.unlink(*queue.keys)
    queue.close()


class TestRedisQueueContract(QueueBackendContract):
    """The contract every backend keeps, on Redis."""

    @pytest.fixture
    def queue_backend_factory(self, prefix: str):
        """Handles on one prefix."""
        return lambda clock: RedisQueue(str(REDIS_URL), prefix=prefix, clock=clock)

    @pytest.fixture
    def queue_process_spec(self, prefix: str) -> dict:
        """How a consumer process opens the same queue."""
        return {
            "factory": "plugins.queue_redis.backend:RedisQueue",
            "args": {"url": REDIS_URL, "prefix": prefix},
        }
