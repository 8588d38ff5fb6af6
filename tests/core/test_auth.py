"""Auth: loopback only without tokens; ``Authorization: Bearer`` for everyone with them."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import pytest
from flask import Flask

from app.auth import auth_exempt, is_loopback, token_matches
from app.errors import PROBLEM_MIME

TOKEN = "tok-0123456789abcdef-secret"
OTHER = "tok-second-valid-token"
REMOTE = {"REMOTE_ADDR": "203.0.113.7"}
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/api/openapi.json", "/api/docs")


@pytest.fixture
def token_app(make_app) -> Flask:
    return make_app({"JUNCTION_API_TOKENS": f"{TOKEN},{OTHER}"})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_tokens_loopback_clients_are_answered(app: Flask, address: str) -> None:
    response = app.test_client().get("/api/projects", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.1", "::ffff:10.0.0.1", "", "junk"])
def test_without_tokens_other_clients_get_403(app: Flask, address: str) -> None:
    response = app.test_client().get("/api/projects", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 403
    assert response.mimetype == PROBLEM_MIME
    body = response.get_json()
    assert body["code"] == "LOOPBACK_ONLY"
    assert "JUNCTION_API_TOKENS" in body["detail"]


@pytest.mark.parametrize(
    "header", [("X-Forwarded-For", "203.0.113.7"), ("Forwarded", "for=203.0.113.7")]
)
def test_a_request_forwarded_by_a_local_proxy_is_not_loopback(
    app: Flask, header: tuple[str, str]
) -> None:
    # A reverse proxy on the same host connects from 127.0.0.1 for every client it serves.
    response = app.test_client().get(
        "/api/projects", headers=[header], environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "LOOPBACK_ONLY"


def test_a_bearer_token_does_not_open_the_loopback_guard(app: Flask) -> None:
    # With no token configured there is nothing to match: a remote caller stays out.
    response = app.test_client().get("/api/projects", headers=bearer(TOKEN), environ_base=REMOTE)
    assert response.status_code == 403


@pytest.mark.parametrize("path", OPEN_PATHS)
def test_probes_metrics_and_the_document_stay_open(app: Flask, token_app: Flask, path: str) -> None:
    for an_app in (app, token_app):
        response = an_app.test_client().get(path, environ_base=REMOTE)
        assert response.status_code in {200, 503}, (path, response.status_code)


def test_with_tokens_a_missing_token_is_401_with_www_authenticate(token_app: Flask) -> None:
    for environ in ({"REMOTE_ADDR": "127.0.0.1"}, REMOTE):  # loopback too
        response = token_app.test_client().get("/api/projects", environ_base=environ)
        assert response.status_code == 401
        assert response.mimetype == PROBLEM_MIME
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", TOKEN, f"Token {TOKEN}"]
)
def test_with_tokens_a_malformed_header_is_401(token_app: Flask, header: str) -> None:
    response = token_app.test_client().get(
        "/api/projects", headers={"Authorization": header}, environ_base=REMOTE
    )
    assert response.status_code == 401


def test_with_tokens_a_wrong_token_is_403(token_app: Flask) -> None:
    for wrong in ("nope", TOKEN + "x", TOKEN[:-1], TOKEN.upper()):
        response = token_app.test_client().get(
            "/api/projects", headers=bearer(wrong), environ_base=REMOTE
        )
        assert response.status_code == 403
        assert response.get_json()["code"] == "INVALID_TOKEN"


def test_with_tokens_any_configured_token_works_from_anywhere(token_app: Flask) -> None:
    client = token_app.test_client()
    for token in (TOKEN, OTHER):
        response = client.get("/api/projects", headers=bearer(token), environ_base=REMOTE)
        assert response.status_code == 200
    lower = client.get(
        "/api/projects", headers={"Authorization": f"bearer {TOKEN}"}, environ_base=REMOTE
    )
    assert lower.status_code == 200  # the scheme is case-insensitive


def test_auth_exempt_views_authenticate_themselves(make_app) -> None:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})

    @app.post("/api/test-hook")
    @auth_exempt
    def hook() -> dict[str, bool]:
        return {"ok": True}

    response = app.test_client().post("/api/test-hook", json={}, environ_base=REMOTE)
    assert response.status_code == 200


def test_token_comparison_checks_every_token_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    # app.auth calls hmac.compare_digest through the module, so patching it there is seen.
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    tokens = ["first", "second", "third"]
    assert token_matches("first", tokens) is True
    # No early exit on a match, and fixed-length digests rather than the raw strings.
    assert len(compared) == 3
    assert all(len(a) == len(b) == 32 for a, b in compared)
    compared.clear()
    assert token_matches("first-but-longer", tokens) is False
    assert len(compared) == 3


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.2")
    assert not is_loopback("192.168.1.2") and not is_loopback(None) and not is_loopback("x")


@pytest.fixture
def noisy_app(make_app) -> Flask:
    """A token app logging at debug level, with a route that fails.

    Built by a fixture so that it configures logging before ``caplog`` installs its handler.
    """
    app = make_app({"JUNCTION_API_TOKENS": TOKEN, "JUNCTION_LOG_LEVEL": "debug"})

    @app.get("/api/test-boom")
    def boom() -> None:
        raise RuntimeError("failure while serving")

    return app


def test_tokens_are_never_logged(
    noisy_app: Flask, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    app = noisy_app
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    calls: list[tuple[str, dict[str, str]]] = [
        ("/api/projects", bearer(TOKEN)),
        ("/api/projects", bearer(TOKEN + "-wrong")),
        ("/api/projects", {"Authorization": TOKEN}),
        ("/api/test-boom", bearer(TOKEN)),
        (f"/ws/anything?access_token={TOKEN}", {}),
    ]
    statuses: list[int] = []
    for path, headers in calls:
        statuses.append(client.get(path, headers=headers, environ_base=REMOTE).status_code)
    assert statuses[:4] == [200, 403, 401, 500]
    assert any(record.levelno >= logging.ERROR for record in caplog.records)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    out, err = capfd.readouterr()
    for text in (logged, out, err):
        assert TOKEN not in text


def test_the_config_view_of_tokens_is_not_served(token_app: Flask) -> None:
    # Nothing under /api echoes configuration; the plugin list carries no secrets either.
    body: Any = token_app.test_client().get("/api/plugins", headers=bearer(TOKEN)).get_data()
    assert TOKEN.encode() not in body
