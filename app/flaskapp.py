"""Junction's ``Flask`` class: Flask's behaviour, without two costs it pays on every request.

- ``ensure_sync`` asks ``inspect.iscoroutinefunction`` about every hook and view on every
  request (nine times for ``/healthz``); whether a function is a coroutine function does not
  change, so the answer is kept per function.
- The cookie session (the console's sign-in) builds a new signing serializer on every request,
  which serialises a test value to find out what kind of serializer it has, and parses the
  ``Cookie`` header even when there is none. The serializer is kept while the secret keys stay
  the same, a request without a ``Cookie`` header gets the new empty session it would get
  anyway, and saving a new session that nobody touched returns at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer

__all__ = ["CookieSessionInterface", "JunctionFlask"]

# More distinct callables than any app registers as hooks and views: beyond it (a caller
# passing a new closure each time) answers are computed, not kept.
_SYNC_CACHE_LIMIT = 4096


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session with its serializer kept between requests."""

    _serializer: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for the app's current secret keys (made again when they change)."""
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is not None and cached[0] == key:
            return cached[1]
        serializer = super().get_signing_serializer(app)
        self._serializer = (key, serializer)
        return serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The request's session; without a ``Cookie`` header, a new one (as Flask would)."""
        if app.secret_key and not request.environ.get("HTTP_COOKIE"):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Flask's ``save_session``; a new session nobody read or wrote costs nothing (every
        request without a cookie: Flask would look up the cookie settings to do nothing)."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


class JunctionFlask(Flask):
    """The application class ``create_app`` builds (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[Callable[..., Any], Callable[..., Any]] = {}
        # One interface per app: its cached serializer belongs to this app's keys.
        self.session_interface = CookieSessionInterface()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's ``ensure_sync``, remembered per function."""
        try:
            return self._sync_functions[func]
        except KeyError:
            pass
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)
        result = super().ensure_sync(func)
        if len(self._sync_functions) < _SYNC_CACHE_LIMIT:
            self._sync_functions[func] = result
        return result
