"""The one outbound HTTP client for every external API (Plane, Jira, ...).

:class:`ServiceClient` wraps a pooled :class:`requests.Session` for one service and adds what
every integration needs and should not re-invent:

* connect/read timeouts and a deadline per call (``max_elapsed``) that bounds the caller's
  total wait, retries and rate-limit waits included;
* a token-bucket rate limit per service and credential (:mod:`app.http.ratelimit`), shared
  through Redis when ``JUNCTION_REDIS_URL`` is set, with optional named buckets for classes of
  calls;
* the server's own signals: ``Retry-After`` (seconds or HTTP date) and
  ``X-RateLimit-Remaining: 0`` + ``X-RateLimit-Reset`` pause every caller of the key;
* retries with jittered exponential backoff, only where safe: idempotent methods (or calls
  marked idempotent), 429s (not processed) and connection failures before anything was sent;
* typed errors (:class:`HttpError` and one subclass per category) carrying the remote message;
* Prometheus metrics per service, and no credential in any log line or error message.

The package, one job per module: :mod:`~app.http.client`, :mod:`~app.http.pacing` (rate-limit
waits, backoff), :mod:`~app.http.errors`, :mod:`~app.http.headers`, :mod:`~app.http.ratelimit`,
:mod:`~app.http.credentials` and :mod:`~app.http.metrics`; redaction is :mod:`app.redaction`,
shared with logging.
"""

from app.http.client import ServiceClient
from app.http.errors import (
    CATEGORIES,
    HttpAuthError,
    HttpConflict,
    HttpError,
    HttpNotFound,
    HttpPermissionError,
    HttpRateLimited,
    HttpTemporaryError,
    HttpValidationError,
    category_for_status,
    make_error,
    remote_message,
)
from app.http.headers import parse_reset, parse_retry_after
from app.http.ratelimit import (
    GLOBAL_BUCKET,
    Limiter,
    MemoryLimiter,
    RateLimit,
    RedisLimiter,
    default_limiter,
    local_limiter,
)
from app.redaction import is_sensitive_name, redact_url

__all__ = [
    "CATEGORIES",
    "GLOBAL_BUCKET",
    "HttpAuthError",
    "HttpConflict",
    "HttpError",
    "HttpNotFound",
    "HttpPermissionError",
    "HttpRateLimited",
    "HttpTemporaryError",
    "HttpValidationError",
    "Limiter",
    "MemoryLimiter",
    "RateLimit",
    "RedisLimiter",
    "ServiceClient",
    "category_for_status",
    "default_limiter",
    "is_sensitive_name",
    "local_limiter",
    "make_error",
    "parse_reset",
    "parse_retry_after",
    "redact_url",
    "remote_message",
]
