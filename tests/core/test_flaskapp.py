"""``app.flaskapp``: Flask's session and ``ensure_sync`` behaviour, kept between requests."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from flask import Flask, session
from flask.testing import FlaskClient

from app.flaskapp import CookieSessionInterface, JunctionFlask


@pytest.fixture
def session_app(app: Flask) -> Flask:
    """The default app with two views that write and read the cookie session."""

    @app.get("/_test/session/set/<value>")
    def set_value(value: str) -> dict[str, Any]:
        session["value"] = value
        return {"ok": True}

    @app.get("/_test/session/clear")
    def clear_value() -> dict[str, Any]:
        session.clear()
        return {"ok": True}

    @app.get("/_test/session/get")
    def get_value() -> dict[str, Any]:
        return {"value": session.get("value"), "new": not session}

    return app


def test_the_app_is_a_junction_flask_with_its_session_interface(app: Flask) -> None:
    """``create_app`` builds the class; each app has an interface of its own."""
    assert isinstance(app, JunctionFlask)
    assert isinstance(app.session_interface, CookieSessionInterface)
    assert JunctionFlask(__name__).session_interface is not app.session_interface


def test_cookie_session_round_trip(session_app: Flask) -> None:
    """A value set in one request is read back from the signed cookie in the next."""
    client = session_app.test_client()
    assert client.get("/_test/session/get").json == {"value": None, "new": True}
    response = client.get("/_test/session/set/blue")
    assert "session=" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert client.get("/_test/session/get").json == {"value": "blue", "new": False}


def test_saving_answers_as_flask_does(session_app: Flask) -> None:
    """An untouched new session sets no cookie and no ``Vary``; a read one varies on the
    cookie; a cleared one deletes the cookie."""
    client = session_app.test_client()
    untouched = client.get("/healthz")
    assert "Set-Cookie" not in untouched.headers and "Cookie" not in untouched.vary
    read = client.get("/_test/session/get")
    assert "Set-Cookie" not in read.headers and "Cookie" in read.vary
    client.get("/_test/session/set/amber")
    cleared = client.get("/_test/session/clear")
    assert cleared.headers["Set-Cookie"].startswith("session=;")
    assert _session_value(client) is None


def _session_value(client: FlaskClient) -> Any:
    """The ``value`` the session test route reads back from the cookie."""
    body = client.get("/_test/session/get").json
    assert body is not None
    return body["value"]


def test_a_changed_secret_key_invalidates_the_cookie(session_app: Flask) -> None:
    """The kept serializer follows the key: a cookie signed with the old key is not accepted."""
    client = session_app.test_client()
    client.get("/_test/session/set/red")
    assert _session_value(client) == "red"
    session_app.secret_key = "another key entirely"
    assert client.get("/_test/session/get").json == {"value": None, "new": True}


def test_a_fallback_key_still_reads_the_old_cookie(session_app: Flask) -> None:
    """``SECRET_KEY_FALLBACKS`` is part of what the kept serializer depends on."""
    client = session_app.test_client()
    client.get("/_test/session/set/green")
    old = session_app.secret_key
    session_app.secret_key = "the new key"
    assert _session_value(client) is None
    session_app.config["SECRET_KEY_FALLBACKS"] = [old]
    assert _session_value(client) == "green"


def test_a_forged_cookie_gives_an_empty_session(session_app: Flask) -> None:
    """A bad signature is an empty session, as with Flask's own interface."""
    client = session_app.test_client()
    client.set_cookie("session", "eyJ2YWx1ZSI6ImV2aWwifQ.forged.signature")
    assert client.get("/_test/session/get").json == {"value": None, "new": True}


def test_the_serializer_is_made_once_per_key(app: Flask) -> None:
    """The expensive part is kept: the same serializer until the keys change."""
    interface = app.session_interface
    assert isinstance(interface, CookieSessionInterface)
    first = interface.get_signing_serializer(app)
    assert first is not None and interface.get_signing_serializer(app) is first
    app.secret_key = "rotated"
    assert interface.get_signing_serializer(app) is not first


def test_no_secret_key_means_no_session() -> None:
    """Without a secret key Flask opens no session (a null session), cookie or not."""
    bare = JunctionFlask(__name__)
    with bare.test_request_context("/"):
        from flask import request

        assert bare.session_interface.open_session(bare, request) is None


def test_ensure_sync_answers_as_flask_does() -> None:
    """Sync functions come back unchanged, from the cache the second time; a coroutine
    function still needs Flask's async extra (not installed here), every time."""
    app = JunctionFlask(__name__)

    def hook() -> None:
        return None

    async def coroutine_view() -> None:
        return None

    assert app.ensure_sync(hook) is hook and app.ensure_sync(hook) is hook
    assert hook in app._sync_functions
    assert inspect.iscoroutinefunction(coroutine_view)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            Flask(__name__).ensure_sync(coroutine_view)
        with pytest.raises(RuntimeError):
            app.ensure_sync(coroutine_view)

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]  # an unhashable callable on purpose

        def __call__(self) -> None:
            return None

    odd = Unhashable()
    assert app.ensure_sync(odd) is odd
