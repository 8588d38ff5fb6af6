"""The one outbound HTTP client for every external API: :class:`ServiceClient`."""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth

from app.http.credentials import ApiSession, basic_header, call_secrets, header_secrets, key_id
from app.http.errors import (
    HttpError,
    error_from_exception,
    error_from_response,
)
from app.http.headers import parse_reset, parse_retry_after
from app.http.metrics import LATENCY, REQUESTS, RETRIES
from app.http.pacing import MAX_PAUSE, Pacing
from app.http.ratelimit import GLOBAL_BUCKET, Limiter, RateLimit, default_limiter
from app.redaction import install_url_redactor, is_sensitive_name, redact_url, scrub

log = logging.getLogger("app.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
IDEMPOTENCY_HEADERS = ("idempotency-key", "x-idempotency-key")

install_url_redactor("urllib3.connectionpool")


class ServiceClient(Pacing):
    """An HTTP client for one external service (one base URL, one credential).

    ``headers`` are sent on every call (``{"X-API-Key": key}``, ``{"Authorization": "Bearer
    ..."}``); ``auth`` is a ``(user, password)`` tuple for Basic auth or any requests auth
    object. ``timeout`` is ``(connect, read)`` seconds. ``rate_limit`` is the key's budget and
    ``buckets`` named sub-budgets (``request(..., bucket="polling")`` is charged to both).
    ``rate_key`` names the credential for the shared budget (default: a hash of the
    credentials, so clients with the same key share it). ``limiter`` defaults to Redis when
    ``JUNCTION_REDIS_URL`` is set, else the process-wide in-memory limiter.

    ``max_retries`` counts retries after the first attempt; ``max_elapsed`` bounds a call's
    total time (attempts, backoff and rate-limit waits). ``clock`` (monotonic seconds),
    ``wall_clock`` (epoch seconds), ``sleep`` and ``random`` are injectable for tests.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | AuthBase | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        rate_limit: RateLimit | None = None,
        buckets: Mapping[str, RateLimit] | None = None,
        rate_key: str | None = None,
        limiter: Limiter | None = None,
        max_retries: int = 4,
        max_elapsed: float = 120.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        pool_maxsize: int = 10,
        secrets: Iterable[str] = (),
        verify: bool | str = True,
        user_agent: str = "junction/0.1",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if buckets and GLOBAL_BUCKET in buckets:
            raise ValueError(f"bucket name {GLOBAL_BUCKET!r} is reserved")
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.rate_limit = rate_limit
        self.buckets = dict(buckets or {})
        self.max_retries = max_retries
        self.max_elapsed = max_elapsed
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.random = random
        self.limiter: Limiter = limiter if limiter is not None else default_limiter()

        if isinstance(auth, tuple):
            auth = HTTPBasicAuth(*auth)
        secret_values = {s for s in secrets if s}
        for name, value in (headers or {}).items():
            if is_sensitive_name(name) and value:
                secret_values |= header_secrets(value)
        password = urlsplit(base_url).password
        if password:
            secret_values.add(password)
        if isinstance(auth, HTTPBasicAuth):
            secret_values.add(str(auth.password))
            secret_values |= header_secrets(basic_header(auth))
        self._secrets = frozenset(s for s in secret_values if len(s) >= 4)
        self.rate_key = rate_key or key_id(self.base_url, sorted(secret_values), auth)
        self.scope = f"{service}:{self.rate_key}"

        session = ApiSession()
        session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        session.headers.update(dict(headers or {}))
        session.auth = auth
        session.verify = verify
        # requests' own retries stay off: this class decides what is safe to repeat.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self.session = session

    # -- public API --

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        bucket: str | None = None,
        timeout: tuple[float, float] | None = None,
        max_elapsed: float | None = None,
        max_retries: int | None = None,
        allow_redirects: bool = True,
    ) -> requests.Response:
        """Send one logical call (with retries where safe) and return the 2xx/3xx response.

        ``idempotent`` overrides the method's default (GET/HEAD/PUT/DELETE/OPTIONS are; a POST
        is only with an ``Idempotency-Key`` header or ``idempotent=True``, e.g. when it carries
        an external id the service deduplicates on). ``bucket`` charges a named sub-budget too.
        Raises an :class:`HttpError` subclass for every failure.
        """
        method = method.upper()
        url = self._url(path)
        secrets = self._secrets | call_secrets(headers)
        shown = self._display_url(url, params, secrets)
        safe_to_repeat = self._is_idempotent(method, headers, idempotent)
        retries = self.max_retries if max_retries is None else max_retries
        read_timeout_default = (timeout or self.timeout)[1]
        connect_default = (timeout or self.timeout)[0]
        started = self.clock()
        budget = self.max_elapsed if max_elapsed is None else max_elapsed
        waits = [0.0]  # total requested sleep: bounds the call even if the clock stands still
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_budget(bucket, started, budget, waits, method, shown)
            remaining = budget - max(self.clock() - started, waits[0])
            # Neither phase may outlast the call's deadline.
            read_timeout = max(0.05, min(read_timeout_default, remaining))
            connect_timeout = max(0.05, min(connect_default, remaining))
            began = time.perf_counter()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    headers=dict(headers) if headers else None,
                    timeout=(connect_timeout, read_timeout),
                    allow_redirects=allow_redirects,
                )
            except requests.RequestException as exc:
                error, repeatable, reason = self._error_from_exception(
                    exc, method, shown, safe_to_repeat
                )
                self._observe(method, "timeout" if reason.endswith("timeout") else "error", began)
            else:
                self._observe(method, f"{response.status_code // 100}xx", began)
                server_now = self._server_now(response)
                self._note_rate_headers(response, server_now)
                if response.status_code < 400:
                    log.debug(
                        "%s %s %s -> %s (attempt %d)",
                        self.service,
                        method,
                        shown,
                        response.status_code,
                        attempt,
                    )
                    return response
                error = self._error_from_response(response, method, shown, secrets, server_now)
                reason = str(response.status_code)
                # A 429 was not processed: repeating it is safe whatever the method.
                repeatable = response.status_code == 429 or (
                    safe_to_repeat and error.category == "temporary"
                )
                if response.status_code in (429, 503) and error.retry_after:
                    self.limiter.pause(self.scope, min(error.retry_after, MAX_PAUSE), self.clock())
            if not repeatable or attempt > retries:
                self._log_failure(error, attempt, repeatable)
                raise error
            delay = self._delay(attempt, error)
            if max(self.clock() - started, waits[0]) + delay > budget:
                log.warning(
                    "%s; giving up, the next try (in %.1fs) is past the deadline",
                    error.message,
                    delay,
                )
                raise error
            log.warning(
                "%s %s %s: %s; retry %d/%d in %.1fs",
                self.service,
                method,
                shown,
                reason,
                attempt,
                retries,
                delay,
            )
            RETRIES.labels(self.service, reason).inc()
            waits[0] += delay
            self.sleep(delay)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """``request("GET", path, ...)``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """``request("POST", path, ...)``; not retried after sending unless marked idempotent."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        """``request("PUT", path, ...)``."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        """``request("PATCH", path, ...)``; not retried after sending unless marked idempotent."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """``request("DELETE", path, ...)``."""
        return self.request("DELETE", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> requests.Response:
        """``request("HEAD", path, ...)``."""
        return self.request("HEAD", path, **kwargs)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ServiceClient({self.service!r}, {redact_url(self.base_url)!r})"

    # -- internals --

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            # Absolute URLs (a "next" link) only to the configured origin: credentials go along.
            target, base = urlsplit(path), urlsplit(self.base_url)
            if (target.scheme, target.netloc) != (base.scheme, base.netloc):
                raise ValueError(f"{self.service}: refusing a URL outside {base.netloc}")
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _display_url(self, url: str, params: Any, secrets: frozenset[str]) -> str:
        prepared = requests.models.PreparedRequest()
        try:
            prepared.prepare_url(url, params)
            full = prepared.url or url
        except Exception:
            full = url
        return scrub(redact_url(full), secrets)

    @staticmethod
    def _is_idempotent(method: str, headers: Mapping[str, str] | None, flag: bool | None) -> bool:
        if flag is not None:
            return flag
        if headers and any(name.lower() in IDEMPOTENCY_HEADERS for name in headers):
            return True
        return method in IDEMPOTENT_METHODS

    def _error_from_response(
        self,
        response: requests.Response,
        method: str,
        shown: str,
        secrets: frozenset[str],
        server_now: float,
    ) -> HttpError:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), server_now)
        if retry_after is None and response.status_code == 429:
            retry_after = parse_reset(response.headers.get("X-RateLimit-Reset"), server_now)
        return error_from_response(
            response,
            service=self.service,
            method=method,
            shown=shown,
            secrets=secrets,
            retry_after=retry_after,
        )

    def _error_from_exception(
        self, exc: requests.RequestException, method: str, shown: str, safe_to_repeat: bool
    ) -> tuple[HttpError, bool, str]:
        return error_from_exception(
            exc, service=self.service, method=method, shown=shown, safe_to_repeat=safe_to_repeat
        )

    def _observe(self, method: str, status_class: str, began: float) -> None:
        REQUESTS.labels(self.service, method, status_class).inc()
        LATENCY.labels(self.service, method).observe(time.perf_counter() - began)

    def _log_failure(self, error: HttpError, attempt: int, repeatable: bool) -> None:
        if repeatable:
            log.warning("%s (gave up after %d attempts)", error.message, attempt)
        elif error.category == "temporary":
            log.warning("%s (not retried: the request may have been processed)", error.message)
        else:
            log.debug("%s", error.message)
