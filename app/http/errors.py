"""Outbound HTTP errors: one class per category, and how responses and exceptions become them."""

from __future__ import annotations

import math
from typing import Any

import requests
import urllib3.exceptions

from app.redaction import scrub, scrub_obj

CATEGORIES = (
    "auth",
    "permission",
    "not_found",
    "validation",
    "conflict",
    "rate_limited",
    "temporary",
)

_BODY_LIMIT = 4000
_MESSAGE_LIMIT = 500


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


def error_from_response(
    response: requests.Response,
    *,
    service: str,
    method: str,
    shown: str,
    secrets: frozenset[str],
    retry_after: float | None,
) -> HttpError:
    """The :class:`HttpError` for an error ``response``; ``shown`` is the redacted URL,
    ``secrets`` are scrubbed from the body and the remote message."""
    status = response.status_code
    category = category_for_status(status)
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text[:_BODY_LIMIT]
    body = scrub_obj(body, secrets)
    remote = remote_message(body)
    if remote:
        remote = scrub(remote, secrets)
    reason = response.reason or ""
    message = f"{service} {method} {shown} -> {status} {reason}".rstrip()
    if remote:
        message += f": {remote}"
    return make_error(
        category,
        status,
        message,
        retry_after=retry_after,
        body=body,
        service=service,
        method=method,
        url=shown,
        remote_message=remote,
    )


def error_from_exception(
    exc: requests.RequestException, *, service: str, method: str, shown: str, safe_to_repeat: bool
) -> tuple[HttpError, bool, str]:
    """``(error, repeatable, reason)`` for a failed attempt that got no response."""
    # str(exc) embeds the URL (query string included): only class names go into messages.
    if isinstance(exc, requests.exceptions.SSLError):
        reason, repeatable = "tls error", False
    elif before_send(exc):
        reason = "connect timeout" if isinstance(exc, requests.ConnectTimeout) else "connect"
        repeatable = True  # nothing reached the server
    elif isinstance(exc, requests.ReadTimeout):
        reason, repeatable = "read timeout", safe_to_repeat
    elif isinstance(exc, requests.ConnectionError):
        reason, repeatable = "connection lost", safe_to_repeat
    else:
        reason, repeatable = "request error", False
    cause = _innermost_name(exc)
    message = f"{service} {method} {shown}: {reason} ({cause})"
    error = HttpTemporaryError(None, None, message, service=service, method=method, url=shown)
    error.__suppress_context__ = True  # the chained requests error repeats the raw URL
    return error, repeatable, reason


def before_send(exc: BaseException) -> bool:
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
