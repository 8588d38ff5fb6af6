"""The one outbound HTTP client for every external API (Plane, Jira, ...).

:class:`ServiceClient` wraps a pooled :class:`requests.Session` for one service and adds what
every integration needs and should not re-invent:

* connect/read timeouts and a deadline per call (``max_elapsed``) that bounds the caller's
  total wait, retries and rate-limit waits included;
* a token-bucket rate limit per service and credential (:mod:`app.ratelimit`), shared through
  Redis when ``JUNCTION_REDIS_URL`` is set, with optional named buckets for classes of calls;
* the server's own signals: ``Retry-After`` (seconds or HTTP date) and
  ``X-RateLimit-Remaining: 0`` + ``X-RateLimit-Reset`` pause every caller of the key;
* retries with jittered exponential backoff, only where safe: idempotent methods (or calls
  marked idempotent), 429s (not processed) and connection failures before anything was sent;
* typed errors (:class:`HttpError` and one subclass per category) carrying the remote message;
* Prometheus metrics per service, and no credential in any log line or error message.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import logging
import math
import random as _random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from prometheus_client import Counter, Histogram
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth

from app.ratelimit import GLOBAL_BUCKET, Limiter, RateLimit, default_limiter

__all__ = [
    "CATEGORIES",
    "HttpAuthError",
    "HttpConflict",
    "HttpError",
    "HttpNotFound",
    "HttpPermissionError",
    "HttpRateLimited",
    "HttpTemporaryError",
    "HttpValidationError",
    "RateLimit",
    "ServiceClient",
    "parse_retry_after",
    "redact_url",
]

log = logging.getLogger(__name__)

CATEGORIES = (
    "auth",
    "permission",
    "not_found",
    "validation",
    "conflict",
    "rate_limited",
    "temporary",
)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
IDEMPOTENCY_HEADERS = ("idempotency-key", "x-idempotency-key")
# First wait after a 429 that names no time (Atlassian's guidance starts at 5 s, doubling).
RATE_LIMITED_BACKOFF = 5.0
# A misparsed reset header must not stall a key for hours.
MAX_PAUSE = 3600.0
MIN_WAIT = 0.001
_BODY_LIMIT = 4000
_MESSAGE_LIMIT = 500

REQUESTS = Counter(
    "junction_http_client_requests_total",
    "Outbound HTTP requests (each attempt) by service, method and status class "
    "(2xx..5xx, timeout, error).",
    ["service", "method", "status_class"],
)
LATENCY = Histogram(
    "junction_http_client_request_duration_seconds",
    "Outbound HTTP request latency (each attempt) by service and method.",
    ["service", "method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RETRIES = Counter(
    "junction_http_client_retries_total",
    "Outbound HTTP retries by service and reason (status code, timeout, connect, ...).",
    ["service", "reason"],
)
THROTTLED = Counter(
    "junction_http_client_throttled_seconds_total",
    "Seconds spent waiting for the rate limit (token bucket or server-announced pause).",
    ["service"],
)

# -- redaction ----------------------------------------------------------------------------------

_SENSITIVE_NAME = re.compile(
    r"(?i)(auth|token|secret|passw|api[-_]?key|apikey|cookie|session|signature|credential|^key$"
    r"|^sig$|^code$|jwt)"
)


def is_sensitive_name(name: str) -> bool:
    """Whether a header or query-parameter name usually carries a credential."""
    return bool(_SENSITIVE_NAME.search(name))


def redact_url(url: str) -> str:
    """``url`` without user-info and with credential-like query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"\?.*$", "?***", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if is_sensitive_name(k) else v) for k, v in pairs], safe="*:/,"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret value in ``text`` (longest first, so no prefix leaks)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


def _scrub_obj(value: Any, secrets: frozenset[str], depth: int = 0) -> Any:
    if depth > 20:
        return None
    if isinstance(value, str):
        return _scrub(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub_obj(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_obj(v, secrets, depth + 1) for v in value]
    return value


class _Urllib3Redactor(logging.Filter):
    """urllib3 logs request lines (with query strings) at DEBUG; strip credentials from them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


_urllib3_log = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _Urllib3Redactor) for f in _urllib3_log.filters):
    _urllib3_log.addFilter(_Urllib3Redactor())

# -- errors -------------------------------------------------------------------------------------


class HttpError(Exception):
    """An outbound call failed. ``category`` says what the caller can do about it.

    ``status`` is the remote HTTP status (``None`` for timeouts, connection errors and a local
    rate-limit wait beyond the deadline), ``remote_message`` the service's own explanation
    (from ``detail`` / ``error`` / ``errorMessages`` ...), ``retry_after`` seconds the caller
    should wait before trying again (when known), ``body`` the parsed JSON (or text) of the
    error response. Nothing here holds a credential: URLs are redacted and the client's secrets
    are scrubbed from messages and bodies.
    """

    category: str = "temporary"

    def __init__(
        self,
        category: str | None,
        status: int | None,
        message: str,
        retry_after: float | None = None,
        body: Any = None,
        *,
        service: str = "",
        method: str = "",
        url: str = "",
        remote_message: str | None = None,
    ) -> None:
        super().__init__(message)
        if category is not None:
            if category not in CATEGORIES:
                raise ValueError(f"unknown HTTP error category {category!r}")
            self.category = category
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.body = body
        self.service = service
        self.method = method
        self.url = url
        self.remote_message = remote_message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.category!r}, {self.status!r}, {self.message!r})"

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (rate limits and temporary failures)."""
        return self.category in {"rate_limited", "temporary"}

    def to_junction_error(self) -> Any:
        """This failure as a problem document for our own API (502, or 503 when retryable).

        For a route that lets an unexpected remote failure surface; a plugin that knows better
        (the remote 404 means *our* 404) raises its own :class:`app.errors.JunctionError`.
        """
        from app.errors import ServiceUnavailable, UpstreamError

        cls = ServiceUnavailable if self.retryable else UpstreamError
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return cls(
            self.message,
            code=f"UPSTREAM_{self.category.upper()}",
            retryable=self.retryable,
            headers=headers,
            upstream_service=self.service,
            upstream_status=self.status,
            error_category=self.category,
        )


class HttpAuthError(HttpError):
    """401: the credentials are missing, wrong or expired. Never retried."""

    category = "auth"


class HttpPermissionError(HttpError):
    """403: authenticated but not allowed (Plane also answers 403 to an invalid API key)."""

    category = "permission"


class HttpNotFound(HttpError):
    """404 / 410: the remote object (or endpoint) does not exist."""

    category = "not_found"


class HttpValidationError(HttpError):
    """400 / 422 (and other 4xx): the service refused the request as sent."""

    category = "validation"


class HttpConflict(HttpError):
    """409: the request conflicts with the remote state (e.g. an external id already used)."""

    category = "conflict"


class HttpRateLimited(HttpError):
    """429 after the retries ran out, or the local budget has no token before the deadline."""

    category = "rate_limited"


class HttpTemporaryError(HttpError):
    """5xx, 408, timeouts and connection errors: may work later."""

    category = "temporary"


_CLASSES: dict[str, type[HttpError]] = {
    cls.category: cls
    for cls in (
        HttpAuthError,
        HttpPermissionError,
        HttpNotFound,
        HttpValidationError,
        HttpConflict,
        HttpRateLimited,
        HttpTemporaryError,
    )
}


def category_for_status(status: int) -> str:
    """The error category of an HTTP error status."""
    if status == 401:
        return "auth"
    if status == 403:
        return "permission"
    if status in (404, 410):
        return "not_found"
    if status == 409:
        return "conflict"
    if status == 429:
        return "rate_limited"
    if status == 408 or status >= 500:
        return "temporary"
    return "validation"


def make_error(category: str, status: int | None, message: str, **kwargs: Any) -> HttpError:
    """An instance of the :class:`HttpError` subclass for ``category``."""
    return _CLASSES[category](category, status, message, **kwargs)


def remote_message(body: Any) -> str | None:
    """The service's own explanation in an error body (Plane, Jira, DRF, generic shapes)."""
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("detail", "error", "error_message", "errorMessage", "message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
            elif isinstance(value, dict | list) and value:
                parts.append(_flatten(value))
        messages = body.get("errorMessages")
        if isinstance(messages, list):
            parts += [str(m) for m in messages if m]
        errors = body.get("errors")
        if isinstance(errors, dict | list) and errors:
            parts.append(_flatten(errors))
        if not parts and body and all(isinstance(v, list | str) for v in body.values()):
            # DRF serializer errors: {"name": ["This field is required."], ...}
            parts.append(_flatten(body))
    elif isinstance(body, list) and body:
        parts.append(_flatten(body))
    elif isinstance(body, str):
        text = body.strip()
        if text and not text.lstrip().startswith("<"):  # HTML error pages are noise
            parts.append(text.splitlines()[0])
    message = "; ".join(dict.fromkeys(p for p in parts if p))
    return message[:_MESSAGE_LIMIT] or None


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_flatten(v) for v in value)
    return str(value)


# -- header parsing -----------------------------------------------------------------------------


def _http_date(value: str) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta seconds or an HTTP date.

    ``now`` is the epoch time the date is relative to (the response's ``Date`` when known).
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    moment = _http_date(value)
    return None if moment is None else max(0.0, moment - now)


def parse_reset(value: str | None, now: float) -> float | None:
    """Seconds until an ``X-RateLimit-Reset``: epoch seconds (Plane), epoch milliseconds,
    delta seconds (small numbers), ISO-8601 (Jira) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number > 1e12:
            return max(0.0, number / 1000 - now)
        if number > 1e9:
            return max(0.0, number - now)
        return max(0.0, number)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        stamp = _http_date(value)
        return None if stamp is None else max(0.0, stamp - now)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def _before_send(exc: BaseException) -> bool:
    """Whether a connection error provably happened before any byte of the request was sent:
    DNS failure, refused connection, connect timeout."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, urllib3.exceptions.ConnectTimeoutError | requests.ConnectTimeout):
            return True
        if isinstance(item, urllib3.exceptions.MaxRetryError):
            stack.append(item.reason)
        if isinstance(item, BaseException):
            stack += [*item.args, item.__cause__, item.__context__]
    return False


# -- the client ---------------------------------------------------------------------------------


class _ApiSession(requests.Session):
    """A session that keeps no cookies and drops API-key headers on cross-host redirects.

    requests already strips ``Authorization`` when a redirect leaves the host; custom credential
    headers (``X-API-Key``) it would forward, so they are removed here too. Cookies are refused
    so a server's session cookie never replaces the configured credentials.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        """Strip every credential-like header when a redirect changes host."""
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in list(prepared_request.headers):
                if is_sensitive_name(name):
                    del prepared_request.headers[name]


class ServiceClient:
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
                secret_values |= _header_secrets(value)
        password = urlsplit(base_url).password
        if password:
            secret_values.add(password)
        if isinstance(auth, HTTPBasicAuth):
            secret_values.add(str(auth.password))
            secret_values |= _header_secrets(_basic_header(auth))
        self._secrets = frozenset(s for s in secret_values if len(s) >= 4)
        self.rate_key = rate_key or _key_id(self.base_url, sorted(secret_values), auth)
        self.scope = f"{service}:{self.rate_key}"

        session = _ApiSession()
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
        secrets = self._secrets | _call_secrets(headers)
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
        return _scrub(redact_url(full), secrets)

    @staticmethod
    def _is_idempotent(method: str, headers: Mapping[str, str] | None, flag: bool | None) -> bool:
        if flag is not None:
            return flag
        if headers and any(name.lower() in IDEMPOTENCY_HEADERS for name in headers):
            return True
        return method in IDEMPOTENT_METHODS

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
        delay = min(self.backoff_max, base * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self.random())

    def _server_now(self, response: requests.Response) -> float:
        # The server's Date makes "reset at <epoch>" independent of our own clock's skew.
        date = response.headers.get("Date")
        stamp = _http_date(date) if date else None
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

    def _error_from_response(
        self,
        response: requests.Response,
        method: str,
        shown: str,
        secrets: frozenset[str],
        server_now: float,
    ) -> HttpError:
        status = response.status_code
        category = category_for_status(status)
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text[:_BODY_LIMIT]
        body = _scrub_obj(body, secrets)
        remote = remote_message(body)
        if remote:
            remote = _scrub(remote, secrets)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), server_now)
        if retry_after is None and status == 429:
            retry_after = parse_reset(response.headers.get("X-RateLimit-Reset"), server_now)
        reason = response.reason or ""
        message = f"{self.service} {method} {shown} -> {status} {reason}".rstrip()
        if remote:
            message += f": {remote}"
        return make_error(
            category,
            status,
            message,
            retry_after=retry_after,
            body=body,
            service=self.service,
            method=method,
            url=shown,
            remote_message=remote,
        )

    def _error_from_exception(
        self, exc: requests.RequestException, method: str, shown: str, safe_to_repeat: bool
    ) -> tuple[HttpError, bool, str]:
        # str(exc) embeds the URL (query string included): only class names go into messages.
        if isinstance(exc, requests.exceptions.SSLError):
            reason, repeatable = "tls error", False
        elif _before_send(exc):
            reason = "connect timeout" if isinstance(exc, requests.ConnectTimeout) else "connect"
            repeatable = True  # nothing reached the server
        elif isinstance(exc, requests.ReadTimeout):
            reason, repeatable = "read timeout", safe_to_repeat
        elif isinstance(exc, requests.ConnectionError):
            reason, repeatable = "connection lost", safe_to_repeat
        else:
            reason, repeatable = "request error", False
        cause = _innermost_name(exc)
        message = f"{self.service} {method} {shown}: {reason} ({cause})"
        error = HttpTemporaryError(
            None, None, message, service=self.service, method=method, url=shown
        )
        error.__suppress_context__ = True  # the chained requests error repeats the raw URL
        return error, repeatable, reason

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


def _innermost_name(exc: BaseException) -> str:
    names = [type(exc).__name__]
    item: Any = exc
    for _ in range(10):
        nxt = item.args[0] if getattr(item, "args", None) else None
        if isinstance(nxt, urllib3.exceptions.MaxRetryError):
            nxt = nxt.reason
        if not isinstance(nxt, BaseException):
            break
        names.append(type(nxt).__name__)
        item = nxt
    return " / ".join(dict.fromkeys(names))


def _basic_header(auth: HTTPBasicAuth) -> str:
    request = requests.Request("GET", "http://x/").prepare()
    auth(request)
    return str(request.headers.get("Authorization", ""))


def _header_secrets(value: str) -> set[str]:
    """The secret parts of a credential header value: the whole value and its token part."""
    found = {value}
    scheme, _, token = value.partition(" ")
    if token and scheme.isalpha():
        found.add(token.strip())
    return found


def _call_secrets(headers: Mapping[str, str] | None) -> frozenset[str]:
    if not headers:
        return frozenset()
    found: set[str] = set()
    for name, value in headers.items():
        if is_sensitive_name(name) and value:
            found |= _header_secrets(value)
    return frozenset(s for s in found if len(s) >= 4)


def _key_id(base_url: str, secrets: list[str], auth: Any) -> str:
    """A stable, non-reversible id of the credential (plus host) for the shared budget."""
    digest = hashlib.sha256(urlsplit(base_url).netloc.encode())
    for secret in secrets:
        digest.update(b"\0" + secret.encode())
    if auth is not None and not isinstance(auth, HTTPBasicAuth):
        digest.update(b"\0" + type(auth).__name__.encode())
    return digest.hexdigest()[:16]
