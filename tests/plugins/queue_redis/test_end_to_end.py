"""The builds API and the reference worker, unchanged, on the Redis backend; the backend's
settings, health and metrics; credentials never shown."""

from __future__ import annotations

import os
import uuid

import pytest

from plugins.queue_redis.backend import RedisQueue
from tests.plugins.builds.backend_flow import api_and_worker_flow

REDIS_URL = os.environ.get("JUNCTION_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="needs JUNCTION_TEST_REDIS_URL (a Redis server)"
)


@pytest.fixture
def junction_plugins() -> list[str]:
    """builds and its Redis backend."""
    return ["builds", "queue_redis"]


@pytest.mark.redis
@needs_redis
def test_api_and_worker_on_redis(junction_app, junction_client, junction_runner, tmp_path):
    """Enqueue, list, stats, worker, clear, /readyz, /metrics and /config on Redis."""
    from app import settings

    prefix = f"junction-test:{uuid.uuid4().hex}"
    with junction_app.app_context():
        settings.set_values("queue_redis", {"url": REDIS_URL, "prefix": prefix})
    try:
        queue = api_and_worker_flow(
            junction_app, junction_client, junction_runner, tmp_path, "redis"
        )
        assert queue["details"]["prefix"] == prefix
        assert queue["details"]["url"].startswith("redis://127.0.0.1")
    finally:
        leftover = RedisQueue(str(REDIS_URL), prefix=prefix)
        leftover.client.unlink(*leftover.keys)
        leftover.close()


def test_redis_without_url_is_503(junction_app, junction_client):
    """Selected with no Redis URL: a 503 problem saying which settings to set."""
    from tests.plugins.builds.conftest import set_builds_settings

    junction_app.config["JUNCTION_REDIS_URL"] = None
    set_builds_settings(junction_app, queue_backend="redis")
    response = junction_client.get("/api/builds/queue/stats")
    assert response.status_code == 503
    assert "JUNCTION_REDIS_URL" in response.get_json()["detail"]
    assert junction_client.get("/readyz").status_code == 503


def test_description_has_no_credentials():
    """The URL in GET /config loses its user and password (no connection is made)."""
    queue = RedisQueue("redis://user:s3cret@redis.example:6380/4?ssl_cert_reqs=none")
    try:
        assert queue.describe()["url"] == "redis://redis.example:6380/4"
    finally:
        queue.close()
