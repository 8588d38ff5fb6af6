"""Token buckets for outbound calls: in-process by default, shared through Redis when configured.

A *scope* is one budget owner: ``<service>:<key id>`` (the same API key used by several clients,
workers or hosts is one scope). Within a scope there is always the key's global bucket and,
optionally, named buckets for classes of calls ("polling", "import"); a call charged to a named
bucket is also charged to the global one, atomically: either every bucket it touches has a token
and all are debited, or none is and the caller is told how long to wait.

A scope can also be *paused* (the server said "nothing left until <reset>" or answered 429 with
``Retry-After``): every caller of the scope waits until the pause ends.

:class:`RedisLimiter` keeps the buckets in Redis and computes refills with the Redis server's
``TIME``, so workers on hosts with skewed clocks agree on one budget. :class:`MemoryLimiter`
does the same within one process, with the caller's clock.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app, has_app_context

from app import redislink
from app.redislink import LinkHealth

log = logging.getLogger(__name__)

GLOBAL_BUCKET = "_key"


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``rate_per_minute`` tokens refill continuously, at most ``burst`` stored.

    Over any window of ``T`` seconds a bucket lets through at most ``burst + rate * T / 60``
    calls; to stay inside a server's sliding window of ``N``/minute choose
    ``burst + rate <= N``. ``burst`` defaults to ten seconds' worth of tokens (at least 1).
    """

    rate_per_minute: float
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def capacity(self) -> int:
        """The bucket size: ``burst`` or ten seconds' worth of tokens."""
        if self.burst is not None:
            return self.burst
        return max(1, math.floor(self.rate_per_minute / 6))

    @property
    def per_second(self) -> float:
        """Refill rate in tokens per second."""
        return self.rate_per_minute / 60.0


Buckets = list[tuple[str, RateLimit]]


class Limiter(Protocol):
    """What :class:`app.http.ServiceClient` needs from a rate limiter."""

    def acquire(self, scope: str, buckets: Buckets, now: float) -> float:
        """Take one token from every bucket and return 0, or take none and return the wait (s).

        ``now`` is the caller's monotonic clock; shared limiters use their own clock instead.
        """
        ...

    def pause(self, scope: str, seconds: float, now: float) -> None:
        """Hold every caller of ``scope`` for ``seconds`` (extends, never shortens, a pause)."""
        ...


class MemoryLimiter:
    """Buckets in this process, guarded by a lock; time comes from the caller (``now``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (scope, bucket) -> (tokens, last refill time)
        self._state: dict[tuple[str, str], tuple[float, float]] = {}
        self._paused_until: dict[str, float] = {}

    def acquire(self, scope: str, buckets: Buckets, now: float) -> float:
        """Take one token from every bucket, or none and return the wait in seconds."""
        with self._lock:
            paused = self._paused_until.get(scope, 0.0) - now
            if paused > 0:
                return paused
            levels: list[float] = []
            wait = 0.0
            for name, limit in buckets:
                tokens, stamp = self._state.get((scope, name), (float(limit.capacity), now))
                if now > stamp:
                    tokens = min(float(limit.capacity), tokens + (now - stamp) * limit.per_second)
                levels.append(tokens)
                if tokens < 1.0:
                    wait = max(wait, (1.0 - tokens) / limit.per_second)
            if wait > 0:
                return wait
            for (name, _limit), tokens in zip(buckets, levels, strict=True):
                self._state[(scope, name)] = (tokens - 1.0, now)
            return 0.0

    def pause(self, scope: str, seconds: float, now: float) -> None:
        """Hold every caller of ``scope`` until ``now + seconds``."""
        with self._lock:
            until = now + seconds
            if until > self._paused_until.get(scope, 0.0):
                self._paused_until[scope] = until

    def reset(self) -> None:
        """Forget every bucket and pause (tests)."""
        with self._lock:
            self._state.clear()
            self._paused_until.clear()


# KEYS[1] = the scope's pause key; KEYS[2..] = bucket hashes {tokens, ts}.
# ARGV[2i-1], ARGV[2i] = refill rate (tokens per microsecond) and capacity of bucket i.
# Returns {granted (0/1), wait in microseconds}. Times come from the server's TIME so every
# host computes refills on one clock; the pause is a key with a TTL, expired by that clock too.
_ACQUIRE_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {0, paused * 1000} end
local n = #KEYS - 1
local levels = {}
local wait = 0
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local h = redis.call('HMGET', KEYS[i + 1], 'tokens', 'ts')
  local tokens = tonumber(h[1])
  local ts = tonumber(h[2])
  if tokens == nil or ts == nil then
    tokens = capacity
    ts = now
  end
  if now > ts then tokens = math.min(capacity, tokens + (now - ts) * rate) end
  levels[i] = tokens
  if tokens < 1 then
    local w = math.ceil((1 - tokens) / rate)
    if w > wait then wait = w end
  end
end
if wait > 0 then return {0, wait} end
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local left = levels[i] - 1
  redis.call('HSET', KEYS[i + 1], 'tokens', tostring(left), 'ts', tostring(now))
  -- Keep the hash only as long as it takes to refill; a full bucket needs no state.
  redis.call('PEXPIRE', KEYS[i + 1], math.ceil((capacity - left) / rate / 1000) + 1000)
end
return {1, 0}
"""

_PAUSE_LUA = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""


class RedisLimiter:
    """Buckets shared by every process that uses the same Redis and prefix.

    A Redis failure does not fail the call: the limiter falls back to an in-process bucket
    and tries Redis again ``RETRY_AFTER`` seconds later (so a cut link does not add a socket
    timeout to every call). The fall-back and the return to Redis are logged once each.
    """

    RETRY_AFTER = 5.0

    def __init__(self, client: Any, prefix: str = "junction:ratelimit:") -> None:
        self.client = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._pause = client.register_script(_PAUSE_LUA)
        self._fallback = MemoryLimiter()
        self._health = LinkHealth(log, "rate limiter", "limiting in-process")
        self._retry_at = 0.0

    @classmethod
    def from_url(cls, url: str, prefix: str = "junction:ratelimit:") -> RedisLimiter:
        """A limiter on a new Redis connection pool for ``url``."""
        import redis

        client = redis.Redis.from_url(url, **redislink.client_options(socket_timeout=2.0))
        return cls(client, prefix)

    def _keys(self, scope: str, names: list[str]) -> list[str]:
        # The hash tag keeps a scope's keys in one cluster slot (multi-key scripts need it).
        base = f"{self.prefix}{{{scope}}}"
        return [f"{base}:pause", *(f"{base}:{name}" for name in names)]

    def acquire(self, scope: str, buckets: Buckets, now: float) -> float:
        """Take one token from every bucket (atomically, in Redis) or return the wait."""
        args: list[str] = []
        for _name, limit in buckets:
            args += [repr(limit.per_second / 1_000_000), str(limit.capacity)]
        if self._skipping():
            return self._fallback.acquire(scope, buckets, now)
        try:
            granted, wait_us = self._acquire(
                keys=self._keys(scope, [name for name, _ in buckets]), args=args
            )
        except Exception as exc:  # Redis down: keep limiting, locally
            self._warn(exc)
            return self._fallback.acquire(scope, buckets, now)
        self._health.ok()
        return 0.0 if int(granted) else int(wait_us) / 1_000_000

    def pause(self, scope: str, seconds: float, now: float) -> None:
        """Hold every caller of ``scope``, on every host, for ``seconds``."""
        self._fallback.pause(scope, seconds, now)
        if self._skipping():
            return
        try:
            self._pause(keys=self._keys(scope, [])[:1], args=[max(1, math.ceil(seconds * 1000))])
        except Exception as exc:
            self._warn(exc)
        else:
            self._health.ok()

    def _skipping(self) -> bool:
        # After a failure, Redis is left alone for RETRY_AFTER seconds.
        return not self._health.healthy and time.monotonic() < self._retry_at

    def _warn(self, exc: Exception) -> None:
        self._retry_at = time.monotonic() + self.RETRY_AFTER
        self._health.failed(type(exc).__name__)


_local = MemoryLimiter()
_redis_limiters: dict[str, RedisLimiter] = {}
_registry_lock = threading.Lock()


def local_limiter() -> MemoryLimiter:
    """The process-wide in-memory limiter."""
    return _local


def default_limiter() -> Limiter:
    """The Redis limiter when ``REDIS_URL`` is configured, else the process-wide one.

    Inside an app context the app's configuration decides; outside, ``JUNCTION_REDIS_URL``.
    """
    if has_app_context():
        url = current_app.config.get("JUNCTION_REDIS_URL")
    else:
        url = os.environ.get("JUNCTION_REDIS_URL")
    if not url:
        return _local
    with _registry_lock:
        limiter = _redis_limiters.get(url)
        if limiter is None:
            limiter = _redis_limiters[url] = RedisLimiter.from_url(url)
        return limiter
