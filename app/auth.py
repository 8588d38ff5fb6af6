"""API authentication: bearer tokens, or the loopback guard when no token is configured.

Paths under ``/api/`` and ``/ws/`` are protected; ``/healthz``, ``/readyz`` and ``/metrics``
stay open. A view decorated with :func:`auth_exempt` authenticates itself (webhooks verify an
HMAC signature, build workers send ``X-Worker-Token``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Response, current_app, g, request

from app.errors import problem

F = TypeVar("F", bound=Callable[..., Any])

PROTECTED_PREFIXES = ("/api/", "/ws/")
# The API description is public so clients can be generated without credentials.
OPEN_PATHS = frozenset({"/api/openapi.json"})


def auth_exempt(view: F) -> F:
    """Mark a view that authenticates its callers itself (signature, worker token)."""
    view._junction_auth_exempt = True  # type: ignore[attr-defined]
    return view


def _is_exempt(view: Callable[..., Any] | None) -> bool:
    while view is not None:
        if getattr(view, "_junction_auth_exempt", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is 127.0.0.0/8 or ::1 (IPv4-mapped forms included)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def is_direct_loopback() -> bool:
    """Whether the current request comes from this host itself, not through a proxy.

    Behind a reverse proxy on the same host every client arrives from loopback; a forwarded
    request is somebody else's, so it does not count as local.
    """
    forwarded = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return is_loopback(request.remote_addr) and not forwarded


def token_matches(candidate: str, tokens: Iterable[str]) -> bool:
    """Constant-time check of ``candidate`` against every configured token.

    Every token is compared (no early exit) and digests are compared rather than the raw
    strings, so neither the position of a match nor a token's length leaks through timing.
    """
    digest = hashlib.sha256(candidate.encode()).digest()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(digest, hashlib.sha256(token.encode()).digest())
    return found


def token_id(token: str) -> str:
    """A stable, non-reversible id of a token, used to scope idempotency keys per caller."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def check_request() -> Response | None:
    """``before_request``: answer 401/403 for an unauthenticated protected request."""
    path = request.path
    if not path.startswith(PROTECTED_PREFIXES) or path in OPEN_PATHS:
        return None
    if path.startswith("/api/_swagger-ui/") or path in {"/api/docs", "/api/redoc"}:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if _is_exempt(view):
        return None

    tokens: list[str] = current_app.config["JUNCTION_API_TOKENS"]
    if not tokens:
        if is_direct_loopback():
            g.caller = "loopback"
            return None
        return problem(
            403,
            "No API token is configured, so only direct loopback clients are answered "
            "(not requests forwarded by a proxy). Set JUNCTION_API_TOKENS to serve others.",
            code="LOOPBACK_ONLY",
        )

    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if not credentials and path.startswith("/ws/"):
        # Browsers cannot set headers on a WebSocket handshake; they pass the token as the
        # ``access_token`` query parameter of the stream URL (never logged, see observability).
        credentials, scheme = request.args.get("access_token", ""), "Bearer"
    if scheme.lower() != "bearer" or not credentials.strip():
        return problem(
            401,
            "Send 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="junction"'},
        )
    if not token_matches(credentials.strip(), tokens):
        return problem(403, "The bearer token is not valid.", code="INVALID_TOKEN")
    g.caller = f"token:{token_id(credentials.strip())}"
    return None
