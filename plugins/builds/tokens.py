"""The worker token: ``X-Worker-Token`` or the ``worker_token`` cookie, checked in constant time.

With the ``builds.worker_token`` setting empty, worker endpoints need nothing beyond the core's
API authentication; with it set they also need the token. The token is never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, request

from app.errors import BadRequest, Unauthorized
from plugins.builds.config import option

HEADER = "X-Worker-Token"
COOKIE = "worker_token"
F = TypeVar("F", bound=Callable[..., Any])


def _equal(candidate: str, expected: str) -> bool:
    # Digests first, so the comparison's time does not depend on the lengths either.
    return hmac.compare_digest(
        hashlib.sha256(candidate.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def check_worker_token() -> None:
    """Raise 401 unless no token is configured or the request carries the right one."""
    expected = option("worker_token")
    if not expected:
        return
    given = request.headers.get(HEADER) or request.cookies.get(COOKIE) or ""
    if not given or not _equal(given, expected):
        raise Unauthorized(
            f"This worker endpoint needs the worker token: send it as {HEADER} or get the "
            f"{COOKIE} cookie from POST /api/builds/session/token.",
            code="BUILDS_WORKER_TOKEN_REQUIRED",
        )


def worker_only(view: F) -> F:
    """Decorate a view that needs the worker token (when one is configured)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_worker_token()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the view signature


def session_cookie(token: str, response: Response) -> Response:
    """Set the ``worker_token`` cookie if ``token`` is the configured one (401 otherwise).

    HttpOnly and SameSite=Strict always; Secure when the request came over https (directly
    or, with trusted proxies, through ``X-Forwarded-Proto``).
    """
    expected = option("worker_token")
    if not expected:
        raise BadRequest(
            "No worker token is configured (setting builds.worker_token); nothing to remember.",
            code="BUILDS_NO_WORKER_TOKEN",
        )
    if not _equal(token, expected):
        raise Unauthorized("That is not the worker token.", code="BUILDS_WORKER_TOKEN_INVALID")
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
        path="/api/builds",
        max_age=12 * 3600,
    )
    return response
