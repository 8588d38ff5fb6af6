"""Host names, origins and proxy headers: the pure rules behind :mod:`app.auth`'s browser guards.

No Flask here, so configuration parsing (:mod:`app.config`) and the stream code can use the
same rules. An *allowed-hosts pattern* is one of (as Django's ``ALLOWED_HOSTS``):

- ``junction.example.com`` — that name exactly;
- ``.example.com`` — ``example.com`` and every name under it;
- ``*.example.com`` — every name under ``example.com``, but not ``example.com`` itself;
- ``*`` — any name (switches the check off; only behind a proxy that checks ``Host`` itself).

Patterns name hosts, never ports or schemes: ``junction.example.com`` allows it on any port.
The loopback names (``localhost``, ``127.0.0.0/8``, ``[::1]``) are always allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

# A ``Host`` header: a DNS name or an IPv4 address, or a bracketed IPv6 literal; then a port.
_HOST_RE = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::([0-9]{1,5}))?$")
_NAME_RE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*$")

# Headers a proxy (or a client pretending to be one) sets to describe the original request.
# Any of them makes a request "forwarded": it is somebody else's, even from 127.0.0.1.
PROXY_HEADERS: tuple[str, ...] = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Forwarded-Server",
    "X-Forwarded",
    "X-Original-Forwarded-For",
    "X-Original-Host",
    "X-Host",
    "X-Real-IP",
    "X-Client-IP",
    "Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "X-Cluster-Client-IP",
    "X-ProxyUser-Ip",
    "Via",
)
# What Werkzeug's ``ProxyFix`` consumes when ``JUNCTION_TRUSTED_PROXIES`` is set.
PROXY_FIX_HEADERS: frozenset[str] = frozenset(
    {
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X-Forwarded-Port",
        "X-Forwarded-Prefix",
    }
)


# Every request asks about its client address and its Host name; a handful of distinct values
# repeat, and parsing an address costs more than the rest of the check.
@functools.lru_cache(maxsize=1024)
def is_loopback_address(address: str | None) -> bool:
    """Whether ``address`` is 127.0.0.0/8 or ::1 (IPv4-mapped forms included)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@functools.lru_cache(maxsize=1024)
def host_name(host: str | None) -> str | None:
    """The lowercase name of a ``Host`` header value without its port (``[::1]:80`` → ``::1``);
    ``None`` when it is empty or malformed."""
    if not host:
        return None
    match = _HOST_RE.match(host.strip().lower())
    if match is None or (match.group(2) is not None and int(match.group(2)) > 65535):
        return None
    name = match.group(1).strip("[]").removesuffix(".")
    return name or None


def is_loopback_name(name: str) -> bool:
    """Whether ``name`` (no port) is ``localhost`` or a loopback address literal."""
    return name == "localhost" or is_loopback_address(name)


def normalise_pattern(pattern: str) -> str:
    """An allowed-hosts pattern in its canonical form; ``ValueError`` says what is wrong."""
    text = pattern.strip().lower().removesuffix(".")
    if text == "*":
        return text
    body = text.removeprefix("*.") if text.startswith("*.") else text.removeprefix(".")
    body = body.strip("[]")
    if "://" in text or "/" in text:
        raise ValueError(f"{pattern!r}: give a host name, not a URL")
    if ":" in body:
        try:
            ipaddress.IPv6Address(body)
        except ValueError:
            raise ValueError(f"{pattern!r}: give a host name without a port") from None
        return body
    if not _NAME_RE.match(body):
        raise ValueError(f"{pattern!r}: not a host name (use name, .domain, *.domain or *)")
    return text if text.startswith(("*.", ".")) else body


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether the host ``name`` (no port, lowercase) matches any canonical pattern."""
    for pattern in patterns:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
        if pattern.startswith(".") and (name == pattern[1:] or name.endswith(pattern)):
            return True
    return False


def host_allowed(host: str | None, patterns: Iterable[str]) -> bool:
    """Whether a ``Host`` header value names this server: loopback, or one of ``patterns``."""
    name = host_name(host)
    if name is None:
        return False
    return is_loopback_name(name) or matches(name, patterns)


def origin_allowed(
    origin: str | None, patterns: Iterable[str], origins: Iterable[str] = ()
) -> bool:
    """Whether a browser ``Origin`` is one of this server's own: its host is a loopback name or
    matches ``patterns``, or it is listed whole in ``origins`` (``*`` lists every origin).

    No ``Origin`` (a non-browser client) is allowed; ``null`` and other opaque origins are not.
    """
    if origin is None:
        return True
    text = origin.strip().rstrip("/").lower()
    listed = {item.strip().rstrip("/").lower() for item in origins}
    if "*" in listed or text in listed:
        return True
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
        return False
    return host_allowed(parts.netloc, patterns)


# The WSGI environ key of each proxy header (``X-Real-IP`` arrives as ``HTTP_X_REAL_IP``).
_PROXY_ENVIRON_KEYS: tuple[tuple[str, str], ...] = tuple(
    ("HTTP_" + name.upper().replace("-", "_"), name) for name in PROXY_HEADERS
)


def forwarding_headers_in_environ(
    environ: Mapping[str, object], trusted_proxies: int = 0
) -> list[str]:
    """:func:`forwarding_headers` of a WSGI request, read from its environ: a lookup per proxy
    header instead of a pass over every header the request carries."""
    skip = PROXY_FIX_HEADERS if trusted_proxies > 0 else frozenset()
    return [name for key, name in _PROXY_ENVIRON_KEYS if key in environ and name not in skip]


def forwarding_headers(headers: Iterable[str], trusted_proxies: int = 0) -> list[str]:
    """The proxy headers among ``headers`` that no trusted ``ProxyFix`` has accounted for."""
    present = {name.lower() for name in headers}
    skip = PROXY_FIX_HEADERS if trusted_proxies > 0 else frozenset()
    return [name for name in PROXY_HEADERS if name.lower() in present and name not in skip]
