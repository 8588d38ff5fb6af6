"""Pacing of a :class:`~app.http.client.ServiceClient`: the rate-limit budget before a call,
backoff between attempts, and the pauses the server's ``X-RateLimit-*`` headers ask for."""

from __future__ import annotations

import logging
from collections.abc import Callable

import requests

from app.http.errors import HttpError, HttpRateLimited
from app.http.headers import http_date, parse_reset
from app.http.metrics import THROTTLED
from app.http.ratelimit import GLOBAL_BUCKET, Limiter, RateLimit

log = logging.getLogger("app.http")

# First wait after a 429 that names no time (Atlassian's guidance starts at 5 s, doubling).
RATE_LIMITED_BACKOFF = 5.0
# A misparsed reset header must not stall a key for hours.
MAX_PAUSE = 3600.0
MIN_WAIT = 0.001


class Pacing:
    """The pacing methods of ``ServiceClient`` (a base class of it; the attributes are set by
    its constructor)."""

    service: str
    scope: str
    rate_limit: RateLimit | None
    buckets: dict[str, RateLimit]
    limiter: Limiter
    backoff_base: float
    backoff_max: float
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    sleep: Callable[[float], None]
    random: Callable[[], float]

    def _bucket_list(self, bucket: str | None) -> list[tuple[str, RateLimit]]:
        chosen: list[tuple[str, RateLimit]] = []
        if self.rate_limit is not None:
            chosen.append((GLOBAL_BUCKET, self.rate_limit))
        if bucket is not None:
            if bucket not in self.buckets:
                raise ValueError(f"{self.service}: unknown rate-limit bucket {bucket!r}")
            chosen.append((bucket, self.buckets[bucket]))
        return chosen

    def _wait_for_budget(
        self,
        bucket: str | None,
        started: float,
        budget: float,
        waits: list[float],
        method: str,
        shown: str,
    ) -> None:
        buckets = self._bucket_list(bucket)
        throttled = 0.0
        try:
            while True:
                wait = self.limiter.acquire(self.scope, buckets, self.clock())
                if wait <= 0:
                    return
                # Float rounding can ask for a wait so small that adding it to a large clock
                # reading changes nothing; waiting at least 1 ms guarantees progress.
                wait = max(wait, MIN_WAIT)
                elapsed = max(self.clock() - started, waits[0])
                if elapsed + wait > budget:
                    raise HttpRateLimited(
                        None,
                        None,
                        f"{self.service} {method} {shown}: rate limit budget exhausted; "
                        f"next call possible in {wait:.1f}s, past this call's deadline",
                        retry_after=wait,
                        service=self.service,
                        method=method,
                        url=shown,
                    )
                log.debug("%s: waiting %.2fs for the rate limit", self.service, wait)
                throttled += wait
                waits[0] += wait
                self.sleep(wait)
        finally:
            if throttled:
                THROTTLED.labels(self.service).inc(throttled)

    def _delay(self, attempt: int, error: HttpError) -> float:
        if error.retry_after is not None:
            # Honour the server's time; a little extra spreads workers that waited together.
            return error.retry_after + self.random() * min(1.0, max(0.1, error.retry_after * 0.1))
        base = RATE_LIMITED_BACKOFF if error.status == 429 else self.backoff_base
        delay = min(self.backoff_max, base * 2.0 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self.random())

    def _server_now(self, response: requests.Response) -> float:
        # The server's Date makes "reset at <epoch>" independent of our own clock's skew.
        date = response.headers.get("Date")
        stamp = http_date(date) if date else None
        return stamp if stamp is not None else self.wall_clock()

    def _note_rate_headers(self, response: requests.Response, server_now: float) -> None:
        raw = response.headers.get("X-RateLimit-Remaining")
        if raw is None:
            return
        try:
            remaining = float(raw)
        except ValueError:
            return
        if remaining > 0:
            return
        pause = parse_reset(response.headers.get("X-RateLimit-Reset"), server_now)
        if pause:
            pause = min(pause, MAX_PAUSE)
            log.info("%s: rate limit used up; pausing calls for %.1fs", self.service, pause)
            self.limiter.pause(self.scope, pause, self.clock())
