"""API authentication: bearer tokens, or the loopback guard when no token is configured.

Paths under ``/api/`` and ``/ws/`` are protected; ``/healthz``, ``/readyz`` and ``/metrics``
stay open. A view decorated with :func:`auth_exempt` authenticates itself (webhooks verify an
HMAC signature, build workers send ``X-Worker-Token``). A signed-in web console session cookie
counts as its token, with a CSRF header on changes (:func:`console_session`,
``docs/console.md``).

Before any of that, every request passes two browser guards (``docs/deployment.md``, *Security*):
its ``Host`` must be a loopback name or match ``JUNCTION_ALLOWED_HOSTS`` (always without tokens,
where the list is set with them), which defeats DNS rebinding; and a state-changing request
whose ``Origin`` is present must come from such a host (:func:`origin_allowed`), which defeats
cross-site writes. The rules themselves live in :mod:`app.hosts`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from flask import Request, Response, current_app, g, request

from app import hosts
from app.errors import problem
from app.state import current_app_object, current_request_object

F = TypeVar("F", bound=Callable[..., Any])

PROTECTED_PREFIXES = ("/api/", "/ws/")
# The API description is public so clients can be generated without credentials.
OPEN_PATHS = frozenset({"/api/openapi.json"})
# Probes answer any Host: orchestrators call them by pod address. They show no details unless
# :func:`is_operator` holds.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def auth_exempt(view: F) -> F:
    """Mark a view that authenticates its callers itself (signature, worker token)."""
    view._junction_auth_exempt = True  # type: ignore[attr-defined]  # a marker attribute on the view function
    return view


@functools.lru_cache(maxsize=1024)
def _is_exempt(view: Callable[..., Any] | None) -> bool:
    # Cached per view function: the mark is set when the view is defined, and walking the
    # decorators' ``__wrapped__`` chain on every request costs more than the rest of the check.
    while view is not None:
        if getattr(view, "_junction_auth_exempt", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is 127.0.0.0/8 or ::1 (IPv4-mapped forms included)."""
    return hosts.is_loopback_address(address)


def _option(name: str, default: Any = None) -> Any:
    value = current_app.config.get(f"JUNCTION_{name}")
    return default if value is None else value


def _tokens(config: Mapping[str, Any] | None = None) -> list[str]:
    # ``config``: the app's, when the caller (``check_request``) has it at hand already.
    return list((current_app.config if config is None else config).get("JUNCTION_API_TOKENS") or [])


def _host_patterns(config: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    hosts_setting = (current_app.config if config is None else config).get("JUNCTION_ALLOWED_HOSTS")
    return _normalised(tuple(hosts_setting or []))


@functools.lru_cache(maxsize=64)
def _normalised(patterns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(hosts.normalise_pattern(p) for p in patterns)


def forwarded_by() -> list[str]:
    """The proxy headers of the current request that no trusted proxy accounts for."""
    return _forwarded_by(request.environ, current_app.config)


def _forwarded_by(environ: dict[str, Any], config: Mapping[str, Any]) -> list[str]:
    return hosts.forwarding_headers_in_environ(
        environ, int(config.get("JUNCTION_TRUSTED_PROXIES") or 0)
    )


def is_direct_loopback() -> bool:
    """Whether the current request comes from this host itself, not through a proxy.

    Behind a reverse proxy on the same host every client arrives from loopback; a forwarded
    request is somebody else's, so it does not count as local. Every proxy header counts
    (``X-Real-IP``, ``True-Client-IP``... see :data:`app.hosts.PROXY_HEADERS`), except the
    ``X-Forwarded-*`` headers that ``ProxyFix`` has applied for ``JUNCTION_TRUSTED_PROXIES``:
    then ``remote_addr`` is already the client's own address.
    """
    return _direct_loopback(current_request_object(), current_app.config)


def _direct_loopback(req: Request, config: Mapping[str, Any]) -> bool:
    return is_loopback(req.remote_addr) and not _forwarded_by(req.environ, config)


def host_allowed(host: str | None) -> bool:
    """Whether ``host`` (a ``Host`` header value) names this server: a loopback name, or a
    match of ``JUNCTION_ALLOWED_HOSTS``. For the streams' handshake as for every request."""
    return hosts.host_allowed(host, _host_patterns())


def host_check_applies(config: Mapping[str, Any] | None = None) -> bool:
    """Whether ``Host`` is validated: always without tokens (loopback mode), and with tokens
    when ``JUNCTION_ALLOWED_HOSTS`` is set (``config``: the app's, by default the current)."""
    return not _tokens(config) or bool(_host_patterns(config))


def origin_allowed(origin: str | None) -> bool:
    """Whether a browser ``Origin`` belongs to this server (``None``, a non-browser client, is).

    The origin's host must be a loopback name or match ``JUNCTION_ALLOWED_HOSTS``, or the whole
    origin be listed in ``JUNCTION_ALLOWED_ORIGINS``. It is never compared with the request's
    own ``Host``, which a DNS-rebinding page controls.
    """
    return hosts.origin_allowed(origin, _host_patterns(), _option("ALLOWED_ORIGINS", []))


def host_problem() -> Response | None:
    """A 400 problem when the current request's ``Host`` is not allowed (DNS rebinding)."""
    return _host_problem(current_request_object(), current_app.config)


def _host_problem(req: Request, config: Mapping[str, Any]) -> Response | None:
    # Every request runs this (through ``check_request``): the request and the configuration
    # are resolved once by the caller, not through a context-local proxy per setting.
    if not host_check_applies(config):
        return None
    host = req.host
    if hosts.host_allowed(host, _host_patterns(config)):
        return None
    shown = host[:100].encode("ascii", "backslashreplace").decode()
    return problem(
        400,
        f"The Host {shown!r} is not a name of this server. Loopback names are always "
        "allowed; add others to JUNCTION_ALLOWED_HOSTS.",
        code="HOST_NOT_ALLOWED",
    )


def origin_problem() -> Response | None:
    """A 403 problem when a state-changing request comes from a foreign ``Origin``."""
    return _origin_problem(current_request_object())


def _origin_problem(req: Request) -> Response | None:
    if req.method not in STATE_CHANGING or origin_allowed(req.environ.get("HTTP_ORIGIN")):
        return None
    return problem(
        403,
        "Cross-site requests may not change anything: this Origin is not one of this "
        "server's hosts. Add its host to JUNCTION_ALLOWED_HOSTS (or the origin to "
        "JUNCTION_ALLOWED_ORIGINS) if it is your own.",
        code="ORIGIN_NOT_ALLOWED",
    )


def is_operator() -> bool:
    """Whether the caller may see operational details (``/readyz`` checks): a valid bearer
    token, or, without tokens, a direct loopback client that named an allowed host."""
    tokens = _tokens()
    if not tokens:
        return is_direct_loopback() and host_allowed(request.host)
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if not credentials and console_session() is not None:
        return True
    return (
        scheme.lower() == "bearer"
        and bool(credentials.strip())
        and token_matches(credentials.strip(), tokens)
    )


def console_session() -> Any:
    """The signed-in web console session of the request (``app.console.session``), or None.

    A console session stands for the token it was opened with: it authorises reads of
    ``/api/`` and ``/ws/`` with the cookie alone, and a state-changing API request only together
    with the session's CSRF token in ``X-CSRF-Token`` (:func:`check_request`). The cookie is
    SameSite=Strict and HttpOnly, so other sites cannot send or read it.
    """
    from app.console import session

    return session.signed_in() if session.has_cookie() else None


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
    """``before_request``: 400 for a foreign ``Host``, 403 for a cross-site write (on every
    path), then 401/403 for an unauthenticated protected request."""
    req = current_request_object()
    app = current_app_object()
    config = app.config
    path = req.path
    if path not in PROBE_PATHS:
        refused = _host_problem(req, config) or _origin_problem(req)
        if refused is not None:
            return refused
    if not path.startswith(PROTECTED_PREFIXES) or path in OPEN_PATHS:
        return None
    if path.startswith("/api/_swagger-ui/") or path in {"/api/docs", "/api/redoc"}:
        return None
    view = app.view_functions.get(req.endpoint or "")
    if _is_exempt(view):
        return None

    tokens = _tokens(config)
    if not tokens:
        if _direct_loopback(req, config):
            g.caller = "loopback"
            return None
        return problem(
            403,
            "No API token is configured, so only direct loopback clients are answered "
            "(not requests forwarded by a proxy). Set JUNCTION_API_TOKENS to serve others.",
            code="LOOPBACK_ONLY",
        )

    header = req.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if not header and not req.args.get("access_token"):
        signed_in = console_session()
        if signed_in is not None:
            return _console_caller(signed_in)
    if not credentials and path.startswith("/ws/"):
        # Browsers cannot set headers on a WebSocket handshake; they pass the token as the
        # ``access_token`` query parameter of the stream URL (never logged, see observability).
        credentials, scheme = req.args.get("access_token", ""), "Bearer"
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


def _console_caller(signed_in: Any) -> Response | None:
    """Admit a request made with a console session cookie: reads as they are, changes only
    with the session's CSRF token in ``X-CSRF-Token`` (a cross-site form cannot set headers)."""
    from app.console.session import CSRF_HEADER

    if request.method in STATE_CHANGING and not signed_in.csrf_matches(
        request.headers.get(CSRF_HEADER)
    ):
        return problem(
            403,
            f"A change made with the console's session cookie must carry its CSRF token in the "
            f"{CSRF_HEADER} header (or send 'Authorization: Bearer <token>' instead).",
            code="CSRF_TOKEN_INVALID",
        )
    g.caller = f"token:{signed_in.token_id}"
    return None
