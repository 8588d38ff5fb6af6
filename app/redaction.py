"""Keeping credentials out of logs and error messages: one module for logging and the HTTP client.

Three tools, for three situations:

* :func:`redact` — free text (a log line, a traceback, a health-check error): anything that
  *looks* like a credential (bearer/basic tokens, ``token=`` query parameters, API-key headers)
  becomes ``***``;
* :func:`redact_url` and :func:`is_sensitive_name` — structured data whose names say what is
  secret (query parameters, header names);
* :func:`scrub` / :func:`scrub_obj` — values we *know* are secret (the HTTP client's
  credentials), replaced wherever they appear, whatever their surroundings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Secrets that may appear in free text: bearer tokens, query-string tokens, API-key headers.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[^\s,'\"]+"),
    re.compile(r"(?i)((?:access_token|token|api_key|apikey|password|secret)=)[^&\s'\"]+"),
    # A header's value, unless it starts with a scheme the first pattern already handles.
    re.compile(
        r"(?i)((?:x-api-key|x-worker-token|authorization)['\"]?\s*[:=]\s*['\"]?)"
        r"(?!(?:bearer|basic)\s)[^\s,'\"]+"
    ),
)

# Header and query-parameter names that usually carry a credential.
_SENSITIVE_NAME = re.compile(
    r"(?i)(auth|token|secret|passw|api[-_]?key|apikey|cookie|session|signature|credential|^key$"
    r"|^sig$|^code$|jwt)"
)


def redact(text: str) -> str:
    """Replace anything that looks like a credential in ``text`` with ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def is_sensitive_name(name: str) -> bool:
    """Whether a header or query-parameter name usually carries a credential."""
    return bool(_SENSITIVE_NAME.search(name))


def redact_url(url: str) -> str:
    """``url`` without user-info and with credential-like query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"\?.*$", "?" + MASK, url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if is_sensitive_name(k) else v) for k, v in pairs], safe="*:/,")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def address_only(url: str) -> str:
    """``url`` reduced to where it points (``scheme://host:port/path``): no user, password,
    query or fragment, for settings shown back to operators (a queue's URL, an index URL)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret value in ``text`` (longest first, so no prefix leaks)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def scrub_obj(value: Any, secrets: frozenset[str], depth: int = 0) -> Any:
    """:func:`scrub` every string inside a JSON-like ``value`` (nesting beyond 20 is dropped)."""
    if depth > 20:
        return None
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {k: scrub_obj(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_obj(v, secrets, depth + 1) for v in value]
    return value


class UrlArgsRedactor(logging.Filter):
    """A log filter for libraries that log request lines with query strings as arguments
    (urllib3 at DEBUG): strips credentials from those URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact URL-like string arguments of ``record``; never drops it."""
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


def install_url_redactor(logger_name: str) -> None:
    """Add a :class:`UrlArgsRedactor` to ``logger_name`` once."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, UrlArgsRedactor) for f in target.filters):
        target.addFilter(UrlArgsRedactor())
