"""Token buckets: in-process with a fake clock, and shared through a real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app.http import HttpRateLimited, ServiceClient
from app.http.ratelimit import (
    MemoryLimiter,
    RateLimit,
    RedisLimiter,
    default_limiter,
    local_limiter,
)
from tests.fakes.fault_server import FaultServer, Reply
from tests.support import free_port

KEY = [("_key", RateLimit(60, burst=2))]


def test_rate_limit_validation_and_default_burst() -> None:
    assert RateLimit(60).capacity == 10  # ten seconds' worth
    assert RateLimit(3).capacity == 1
    assert RateLimit(3, burst=3).capacity == 3
    with pytest.raises(ValueError):
        RateLimit(0)
    with pytest.raises(ValueError):
        RateLimit(10, burst=0)


def test_memory_bucket_burst_then_refill() -> None:
    limiter = MemoryLimiter()
    assert limiter.acquire("s", KEY, 0.0) == 0
    assert limiter.acquire("s", KEY, 0.0) == 0
    assert limiter.acquire("s", KEY, 0.0) == pytest.approx(1.0)  # 60/min: a token a second
    assert limiter.acquire("s", KEY, 0.5) == pytest.approx(0.5)
    assert limiter.acquire("s", KEY, 1.0) == 0
    assert limiter.acquire("other", KEY, 1.0) == 0  # scopes are independent


def test_memory_buckets_are_charged_all_or_nothing() -> None:
    limiter = MemoryLimiter()
    key = ("_key", RateLimit(60, burst=5))
    polling = [key, ("polling", RateLimit(6, burst=1))]
    assert limiter.acquire("s", polling, 0.0) == 0
    # The polling bucket is empty: the call waits and the key's bucket is not charged.
    assert limiter.acquire("s", polling, 0.0) == pytest.approx(10.0)
    assert limiter.acquire("s", polling, 0.0) == pytest.approx(10.0)
    for _ in range(4):
        assert limiter.acquire("s", [key], 0.0) == 0
    assert limiter.acquire("s", [key], 0.0) > 0


def test_memory_pause_extends_but_never_shortens() -> None:
    limiter = MemoryLimiter()
    limiter.pause("s", 30, now=0.0)
    limiter.pause("s", 5, now=0.0)
    assert limiter.acquire("s", [], 10.0) == pytest.approx(20.0)
    assert limiter.acquire("s", [], 30.0) == 0


# -- Redis --------------------------------------------------------------------------------------


@pytest.fixture
def redis_prefix(redis_server_url: str) -> Iterator[tuple[str, str]]:
    """A unique key prefix (other engineers share this Redis); keys are deleted afterwards."""
    import redis

    prefix = f"test-http-{uuid.uuid4().hex[:10]}:"
    yield redis_server_url, prefix
    client = redis.Redis.from_url(redis_server_url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_redis_bucket_is_shared_and_ignores_local_clocks(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    host_a = RedisLimiter.from_url(url, prefix=prefix)
    host_b = RedisLimiter.from_url(url, prefix=prefix)
    slow = [("_key", RateLimit(6, burst=2))]  # a token every 10 s

    # The hosts' clocks disagree by a day; the budget is still one budget.
    assert host_a.acquire("plane:k1", slow, now=0.0) == 0
    assert host_b.acquire("plane:k1", slow, now=86_400.0) == 0
    wait_a = host_a.acquire("plane:k1", slow, now=0.0)
    wait_b = host_b.acquire("plane:k1", slow, now=86_400.0)
    assert 9.0 < wait_a <= 10.0
    assert 9.0 < wait_b <= 10.0
    assert host_b.acquire("plane:k2", slow, now=0.0) == 0  # another key, another budget


def test_redis_buckets_are_charged_all_or_nothing(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    limiter = RedisLimiter.from_url(url, prefix=prefix)
    key = ("_key", RateLimit(60, burst=3))
    polling = [key, ("polling", RateLimit(6, burst=1))]

    assert limiter.acquire("s", polling, 0.0) == 0
    assert 9.0 < limiter.acquire("s", polling, 0.0) <= 10.0
    assert 9.0 < limiter.acquire("s", polling, 0.0) <= 10.0
    # Denied polling calls charged nothing: the key still has its other two tokens.
    assert limiter.acquire("s", [key], 0.0) == 0
    assert limiter.acquire("s", [key], 0.0) == 0
    assert limiter.acquire("s", [key], 0.0) > 0


def test_redis_pause_reaches_every_host(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    host_a = RedisLimiter.from_url(url, prefix=prefix)
    host_b = RedisLimiter.from_url(url, prefix=prefix)

    host_a.pause("plane:k", 30, now=0.0)
    host_a.pause("plane:k", 1, now=0.0)  # a shorter pause does not cut the longer one

    assert 29.0 < host_b.acquire("plane:k", KEY, now=123.0) <= 30.0


def test_two_clients_share_one_redis_budget(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    sleeps: list[float] = []

    def real_sleep(seconds: float) -> None:
        # The wait is the behaviour under test (Redis keeps real time); it is ~0.2 s.
        sleeps.append(seconds)
        time.sleep(seconds)

    with FaultServer() as server:
        server.script("GET", "/cycles/", Reply(200, json=[]))

        def client(**kwargs: Any) -> ServiceClient:
            return ServiceClient(
                "plane",
                server.url,
                headers={"X-API-Key": "plane_api_shared_key_for_both"},
                rate_limit=RateLimit(300, burst=2),  # a token every 0.2 s
                limiter=RedisLimiter.from_url(url, prefix=prefix),
                **kwargs,
            )

        worker_a, worker_b = client(), client(sleep=real_sleep)
        worker_a.get("/cycles/")
        worker_a.get("/cycles/")

        with pytest.raises(HttpRateLimited) as caught:
            worker_b.get("/cycles/", max_elapsed=0.05)
        assert caught.value.retry_after is not None
        assert 0.05 < caught.value.retry_after <= 0.2

        worker_b.get("/cycles/")
        assert len(sleeps) >= 1
        assert 0.0 < sum(sleeps) <= 0.25
        assert len(server.calls()) == 3


def test_default_limiter_follows_the_app_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inside an app the resolved config decides, whatever the process environment says.
    monkeypatch.setenv("JUNCTION_REDIS_URL", f"redis://127.0.0.1:{free_port()}/1")
    with_redis, without = Flask("with_redis"), Flask("without")
    with_redis.config["JUNCTION_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/2"
    without.config["JUNCTION_REDIS_URL"] = None

    with with_redis.app_context():
        chosen = default_limiter()
        assert isinstance(chosen, RedisLimiter)
        assert default_limiter() is chosen  # one connection pool per URL
    with without.app_context():
        assert default_limiter() is local_limiter()


def test_default_limiter_outside_an_app_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JUNCTION_REDIS_URL", raising=False)
    assert default_limiter() is local_limiter()
    monkeypatch.setenv("JUNCTION_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert isinstance(default_limiter(), RedisLimiter)


def test_unreachable_redis_falls_back_to_limiting_in_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisLimiter.from_url(f"redis://127.0.0.1:{free_port()}/0")
    assert limiter.acquire("s", KEY, 0.0) == 0
    assert limiter.acquire("s", KEY, 0.0) == 0
    assert limiter.acquire("s", KEY, 0.0) == pytest.approx(1.0)
    assert "Redis unavailable" in caplog.text
