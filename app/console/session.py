"""The console's session cookie: who signed in, and the CSRF token of their forms.

One signed cookie, ``junction_console``, carries ``{"t": token id or None, "c": csrf token}``.
It is HttpOnly, SameSite=Strict, Secure when the request came over https, and expires after
``JUNCTION_CONSOLE_SESSION_SECONDS``. It is signed (itsdangerous, with a timestamp) by a key
that every worker and host derives alike:

- ``JUNCTION_SECRET_KEY`` when set;
- else, with ``JUNCTION_API_TOKENS``, a digest of the tokens (so changing the tokens ends
  every session);
- else (loopback mode, one host) a random key kept in ``<instance>/console-session.key``.

With tokens, a session is valid only while the token it was opened with is still configured
(``t`` is :func:`app.auth.token_id` of it), so removing a token signs its holders out too.
Without tokens the cookie only carries the CSRF token (``t`` is ``None``).

This module reads ``app.config`` and the request; it imports nothing of :mod:`app.auth`, which
imports it (a console session counts as a token holder there, see ``docs/console.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app, g, request
from flask.wrappers import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.state import current_app_object

COOKIE_NAME = "junction_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
KEY_FILE = "console-session.key"
_SALT = "junction.console.session"


@dataclass(frozen=True)
class ConsoleSession:
    """A verified console cookie: the signed-in token's id (``None`` without tokens) and the
    CSRF token its forms must carry."""

    token_id: str | None
    csrf: str

    def csrf_matches(self, candidate: str | None) -> bool:
        """Constant-time check of a submitted CSRF token."""
        return bool(candidate) and hmac.compare_digest(str(candidate), self.csrf)


def _tokens(app: Flask) -> list[str]:
    return list(app.config.get("JUNCTION_API_TOKENS") or [])


def _signing_key(app: Flask) -> bytes:
    secret = app.config.get("JUNCTION_SECRET_KEY")
    if secret:
        return hashlib.sha256(b"junction-console\n" + str(secret).encode()).digest()
    tokens = _tokens(app)
    if tokens:
        material = "\n".join(sorted(tokens)).encode()
        return hashlib.sha256(b"junction-console-tokens\n" + material).digest()
    return _instance_key(Path(app.instance_path))


def _instance_key(instance: Path) -> bytes:
    """A random key shared by the processes of one instance folder (created once, 0600)."""
    path = instance / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    key = path.read_text().strip()
    if len(key) < 32:  # a half-written file from a concurrent first start: read again later
        raise RuntimeError(f"{path} is not a console session key yet")
    return key.encode()


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_signing_key(app), salt=_SALT)


def max_age(app: Flask | None = None) -> int:
    """Seconds a session lasts (``JUNCTION_CONSOLE_SESSION_SECONDS``)."""
    target = app or current_app
    return int(target.config.get("JUNCTION_CONSOLE_SESSION_SECONDS") or 8 * 3600)


def token_id_of(token: str) -> str:
    """The id under which a token's session is kept (:func:`app.auth.token_id`'s digest)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _decode(value: str) -> ConsoleSession | None:
    app = current_app_object()
    try:
        body: Any = _serializer(app).loads(value, max_age=max_age(app))
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("c"), str) or not body["c"]:
        return None
    token_id = body.get("t")
    tokens = _tokens(app)
    if tokens:
        # Signed in only while the token it was opened with is still configured.
        if not isinstance(token_id, str) or not any(
            hmac.compare_digest(token_id, token_id_of(token)) for token in tokens
        ):
            return ConsoleSession(None, body["c"])
    else:
        token_id = None
    return ConsoleSession(token_id, body["c"])


def current() -> ConsoleSession | None:
    """The request's verified session cookie (cached per request), or ``None``."""
    if "console_session" not in g:
        raw = request.cookies.get(COOKIE_NAME)
        g.console_session = _decode(raw) if raw else None
    return cast(ConsoleSession | None, g.console_session)


def signed_in() -> ConsoleSession | None:
    """The session when it belongs to a configured token (tokens mode), else ``None``."""
    session = current()
    return session if session is not None and session.token_id else None


def has_cookie() -> bool:
    """Whether the request carries a console cookie at all (valid or not)."""
    return COOKIE_NAME in request.cookies


def csrf_token() -> str:
    """The CSRF token for forms of this request; opens an anonymous session when needed (the
    cookie is set on the response by :func:`save`)."""
    session = current()
    if session is None:
        session = ConsoleSession(None, secrets.token_urlsafe(32))
        g.console_session = session
        g.console_session_dirty = True
    return session.csrf


def sign_in(token: str) -> ConsoleSession:
    """Open a session for ``token`` (already checked) with a fresh CSRF token."""
    session = ConsoleSession(token_id_of(token), secrets.token_urlsafe(32))
    g.console_session = session
    g.console_session_dirty = True
    return session


def sign_out() -> None:
    """Forget the session: the response deletes the cookie."""
    g.console_session = None
    g.console_session_clear = True


def request_csrf_ok() -> bool:
    """Whether the request carries the session's CSRF token (form field or header)."""
    session = current()
    if session is None:
        return False
    submitted = request.headers.get(CSRF_HEADER)
    if not submitted and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        submitted = request.form.get(CSRF_FIELD)
    return session.csrf_matches(submitted)


def save(response: Response) -> Response:
    """``after_request``: write or delete the cookie when this request changed the session."""
    context = g._get_current_object()
    if context.pop("console_session_clear", False):
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Strict")
        return response
    if not context.pop("console_session_dirty", False) or context.get("console_session") is None:
        return response
    session: ConsoleSession = context.console_session
    app = current_app_object()
    value = _serializer(app).dumps({"t": session.token_id, "c": session.csrf})
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=max_age(app),
        path="/",
        httponly=True,
        secure=request.is_secure,
        samesite="Strict",
    )
    # Pages that carry a CSRF token must not be stored by shared caches.
    response.headers.setdefault("Cache-Control", "no-store")
    return response
