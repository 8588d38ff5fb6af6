"""Secrets bound to their destination (issue 8, point 3) and secret-key rotation (issue 7)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from app import settings
from app.hookspecs import hookimpl
from tests.core.security_http import call, serving

KEY_A = "plane-key-for-host-a-0123456789"
KEY_B = "plane-key-for-host-b-9876543210"
WORKSPACE, PROJECT = "acme", "5f0c6a4e-7b1d-4c51-9a0e-2f8d3c4b5a61"


class Recorder:
    """A fake Plane that records the credentials every request carries."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.seen.append(
                    self.headers.get("X-API-Key") or self.headers.get("Authorization")
                )
                body = json.dumps({"id": PROJECT, "name": "Acme", "version": "1.0"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def two_planes() -> Iterator[tuple[Recorder, Recorder]]:
    planes = (Recorder(), Recorder())
    yield planes
    for plane in planes:
        plane.close()


def _config(port: int, **values: Any) -> Any:
    return call(port, "POST", "/api/planning/config", json_body=values)


def test_changing_only_the_plane_url_never_sends_the_old_key_to_the_new_host(
    app: Flask, two_planes: tuple[Recorder, Recorder]
) -> None:
    first, second = two_planes
    with serving(app) as port:
        stored = _config(
            port,
            planning_api_url=first.url,
            planning_api_key=KEY_A,
            planning_workspace_slug=WORKSPACE,
            planning_project_id=PROJECT,
        )
        assert stored.status == 200, stored.body
        assert call(port, "POST", "/api/planning/test-connection").json()["status"] == "ok"
        masked = stored.json()["planning_api_key_masked"]

        # Only the URL, then the URL with the masked key echoed back: both refused.
        for extra in ({}, {"planning_api_key": masked}):
            moved = _config(port, planning_api_url=second.url, **extra)
            assert moved.status == 422, moved.body
            problem = moved.json()
            assert problem["code"] == "SECRET_REBIND_REQUIRED"
            assert {e["field"] for e in problem["errors"]} == {"api_key", "webhook_secret"} - (
                {"webhook_secret"}  # no webhook secret is stored, so nothing to re-enter
            )
            assert KEY_A not in moved.body.decode()
            call(port, "POST", "/api/planning/test-connection")
        assert second.seen == []
        assert call(port, "GET", "/api/planning/config").json()["planning_api_url"] == first.url

        # With the key for the new host in the same request, the change goes through.
        moved = _config(port, planning_api_url=second.url, planning_api_key=KEY_B)
        assert moved.status == 200, moved.body
        assert call(port, "POST", "/api/planning/test-connection").json()["status"] == "ok"
    assert second.seen and set(second.seen) == {KEY_B}
    assert KEY_B not in first.seen


def test_removing_the_secret_with_the_url_change_is_accepted(
    app: Flask, two_planes: tuple[Recorder, Recorder]
) -> None:
    first, second = two_planes
    with serving(app) as port:
        _config(port, planning_api_url=first.url, planning_webhook_secret="whsec-0123456789abcd")
        refused = _config(port, planning_api_url=second.url)
        assert refused.json()["errors"][0]["field"] == "webhook_secret"
        moved = _config(port, planning_api_url=second.url, planning_webhook_secret=None)
        assert moved.status == 200, moved.body
        assert moved.json()["planning_webhook_secret_set"] is False


class BoundPlugin:
    """Declares a project-scoped secret bound to a project-scoped URL."""

    @hookimpl
    def junction_settings(self) -> dict[str, Any]:
        return {
            "namespace": "bound",
            "fields": {
                "url": {"type": "str", "default": "", "scope": "both"},
                "token": {"type": "str", "secret": True, "scope": "both", "bound_to": ["url"]},
            },
        }


def test_scoped_bindings_cover_inherited_destinations(
    make_app: Callable[..., Flask], project_dir: Any
) -> None:
    from app.domain import service as domain
    from app.errors import ValidationFailed

    app = make_app(extra_plugins=[("bound", BoundPlugin())])
    with app.app_context():
        domain.create_project("p", str(project_dir))
        settings.set_values("bound", {"url": "https://a.example", "token": "global-token-xyz"})
        settings.set_values("bound", {"token": "project-token-xyz"}, "p")
        # The project's own token would follow a new global URL it inherits.
        with pytest.raises(ValidationFailed) as refused:
            settings.set_values("bound", {"url": "https://b.example", "token": "new-global-tok"})
        assert refused.value.errors is not None
        assert "'p'" in refused.value.errors[0]["message"]
        # A project URL of its own moves the global token unless the project gives its own.
        settings.set_values("bound", {"token": None}, "p")
        with pytest.raises(ValidationFailed):
            settings.set_values("bound", {"url": "https://c.example"}, "p")
        settings.set_values("bound", {"url": "https://c.example", "token": "c-token-xyz"}, "p")
        assert settings.get("bound", "token", "p") == "c-token-xyz"
        # Same value again: nothing moves.
        settings.set_values("bound", {"url": "https://a.example"})
        assert [f["bound_to"] for f in settings.describe("bound")] == [[], ["url"]]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": {}, "token": {"bound_to": ["url"]}}, "only secret fields"),
        ({"token": {"secret": True, "bound_to": ["nope"]}}, "not a declared"),
        (
            {"url": {"scope": "global"}, "token": {"secret": True, "bound_to": ["url"]}},
            "must have the secret's scope",
        ),
    ],
)
def test_bindings_are_validated_at_declaration(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings.parse_declaration({"namespace": "x", "fields": fields})


# -- rotation ------------------------------------------------------------------------------------

OLD, NEW = "old-secret-key-" + "o" * 24, "new-secret-key-" + "n" * 24


def test_a_new_key_with_the_old_one_as_fallback_reads_and_rotates(
    make_app: Callable[..., Flask],
) -> None:
    plugins = [("bound", BoundPlugin())]
    old = make_app({"SECRET_KEY": OLD}, extra_plugins=plugins)
    with old.app_context():
        settings.set_values("bound", {"url": "https://a.example", "token": "the-token-123456"})
    only_new = make_app({"SECRET_KEY": NEW}, extra_plugins=plugins)
    with only_new.app_context(), pytest.raises(settings.SecretUnreadable):
        settings.get("bound", "token")

    both = make_app({"SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": OLD}, extra_plugins=plugins)
    with both.app_context():
        assert settings.get("bound", "token") == "the-token-123456"
    detail = both.test_client().get("/readyz").get_json()["checks"]["secrets"]["detail"]
    assert "junction secrets rotate" in detail

    result = both.test_cli_runner().invoke(args=["junction", "secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rotated"] == 1
    with only_new.app_context():
        assert settings.get("bound", "token") == "the-token-123456"
    detail = both.test_client().get("/readyz").get_json()["checks"]["secrets"]["detail"]
    assert detail == "secret settings encrypted at rest (Fernet)"


def test_rotate_reports_secrets_no_key_reads(make_app: Callable[..., Flask]) -> None:
    plugins = [("bound", BoundPlugin())]
    with make_app({"SECRET_KEY": OLD}, extra_plugins=plugins).app_context():
        settings.set_values("bound", {"url": "https://a.example", "token": "the-token-123456"})
    runner = make_app({"SECRET_KEY": NEW}, extra_plugins=plugins).test_cli_runner()
    result = runner.invoke(args=["junction", "secrets", "rotate"])
    assert result.exit_code == 1
    problem = json.loads(result.stderr)
    assert problem["code"] == "SECRET_UNREADABLE" and "bound.token" in problem["detail"]


def test_readyz_does_not_decrypt_every_secret_on_every_probe(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app({"SECRET_KEY": NEW}, extra_plugins=[("bound", BoundPlugin())])
    with app.app_context():
        settings.set_values("bound", {"url": "https://a.example", "token": "the-token-123456"})
        crypto = settings._crypto()
    decrypted: list[str] = []
    original = crypto.key_of

    def key_of(token: str) -> str:
        decrypted.append(token)
        return original(token)

    monkeypatch.setattr(crypto, "key_of", key_of)
    client = app.test_client()
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    assert len(decrypted) == 1
    with app.app_context():
        settings.set_values("bound", {"token": "another-token-7890"})
    client.get("/readyz")
    assert len(decrypted) == 2
