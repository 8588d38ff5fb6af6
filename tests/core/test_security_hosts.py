"""Browser guards over real HTTP: DNS rebinding (``Host``), cross-site writes (``Origin``) and
requests forwarded by a proxy (issue 8, points 1, 2 and 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import websocket
from flask import Flask

from app import auth, hosts
from app.errors import PROBLEM_MIME
from tests.core.security_http import call, serving

TOKEN = "tok-security-0123456789abcdef"
EVIL = "attacker.example:8000"


def _problem(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"].startswith(PROBLEM_MIME)
    body = reply.json()
    assert body["code"] == code
    return body


# -- point 1: Host -----------------------------------------------------------------------------


def test_a_rebound_host_gets_400_on_rest_and_sse_in_loopback_mode(app: Flask) -> None:
    """A page on attacker.example whose name now resolves to 127.0.0.1 sends its own Host and a
    matching Origin: that used to be answered 200 like a local client."""
    headers = {"Host": EVIL, "Origin": f"http://{EVIL}"}
    with serving(app) as port:
        for path in ("/api/projects", "/api/events/stream?channels=projects", "/api/plugins"):
            body = _problem(call(port, "GET", path, headers=headers), 400, "HOST_NOT_ALLOWED")
            assert "JUNCTION_ALLOWED_HOSTS" in body["detail"]
        reply = call(port, "POST", "/api/projects", headers=headers, json_body={"name": "x"})
        _problem(reply, 400, "HOST_NOT_ALLOWED")


def test_a_rebound_host_cannot_open_a_websocket(app: Flask) -> None:
    with serving(app) as port, pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            f"ws://127.0.0.1:{port}/ws/stream?channels=projects",
            host=EVIL,
            origin=f"http://{EVIL}",
            timeout=5,
        )
    assert refused.value.status_code == 400


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "[::1]:80"])
def test_loopback_names_with_any_port_are_answered(app: Flask, host: str) -> None:
    with serving(app) as port:
        reply = call(port, "GET", "/api/projects", headers={"Host": host.format(port=port)})
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    ("pattern", "host", "status"),
    [
        ("junction.test", "junction.test:8000", 200),
        ("junction.test", "a.junction.test", 400),
        (".example.com", "example.com", 200),
        (".example.com", "api.example.com:443", 200),
        (".example.com", "evilexample.com", 400),
        ("*.example.com", "api.example.com", 200),
        ("*.example.com", "example.com", 400),
    ],
)
def test_allowed_hosts_patterns(make_app: Callable[..., Flask], pattern, host, status) -> None:
    app = make_app({"ALLOWED_HOSTS": pattern})
    with serving(app) as port:
        reply = call(port, "GET", "/api/projects", headers={"Host": host})
    assert reply.status == status, reply.body


def test_with_tokens_host_is_checked_only_when_the_list_is_set(
    make_app: Callable[..., Flask],
) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}", "Host": "junction.example.org"}
    with serving(make_app({"API_TOKENS": TOKEN})) as port:
        assert call(port, "GET", "/api/projects", headers=bearer).status == 200
    listed = make_app({"API_TOKENS": TOKEN, "ALLOWED_HOSTS": "junction.example.org"})
    with serving(listed) as port:
        assert call(port, "GET", "/api/projects", headers=bearer).status == 200
        reply = call(port, "GET", "/api/projects", headers={**bearer, "Host": EVIL})
        _problem(reply, 400, "HOST_NOT_ALLOWED")


def test_probes_answer_any_host_but_show_details_only_to_operators(app: Flask) -> None:
    with serving(app) as port:
        foreign = call(port, "GET", "/readyz", headers={"Host": EVIL})
        local = call(port, "GET", "/readyz")
        assert call(port, "GET", "/healthz", headers={"Host": EVIL}).status == 200
    assert foreign.status in {200, 503} and "checks" not in foreign.json()
    assert "checks" in local.json()


def test_the_host_rules() -> None:
    assert hosts.host_allowed("[::1]:8000", []) and hosts.host_allowed("127.9.9.9", [])
    assert not hosts.host_allowed("localhost.attacker.example", [])
    assert not hosts.host_allowed("127.0.0.1.attacker.example", [])
    assert not hosts.host_allowed("bad host", ["*"])
    assert hosts.host_allowed("anything.example", ["*"])
    for bad in ("https://x.example", "x.example:80", "a b"):
        with pytest.raises(ValueError):
            hosts.normalise_pattern(bad)


# -- point 1 + 2: Origin -----------------------------------------------------------------------


def test_origin_is_compared_with_the_configured_hosts_not_with_host(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app({"ALLOWED_HOSTS": "junction.test", "ALLOWED_ORIGINS": "https://ui.example"})
    with app.test_request_context("/", headers={"Host": EVIL}):
        assert auth.origin_allowed(None)
        assert auth.origin_allowed("http://localhost:3000")
        assert auth.origin_allowed("https://junction.test")
        assert auth.origin_allowed("https://ui.example")
        assert not auth.origin_allowed(f"http://{EVIL}")  # the request's own Host
        assert not auth.origin_allowed("null")
        assert auth.host_allowed("junction.test:8080")
        assert not auth.host_allowed(EVIL)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_cross_site_write_gets_403_on_every_route(
    app: Flask, project_dir: Any, method: str
) -> None:
    evil = {"Origin": "https://attacker.example"}
    with serving(app) as port:
        assert (
            call(
                port, "POST", "/api/projects", json_body={"name": "p1", "path": str(project_dir)}
            ).status
            == 201
        )
        for path in (
            "/api/projects",
            "/api/projects/p1",
            "/api/nowhere",
            "/api/operations/x/cancel",
        ):
            reply = call(port, method, path, headers=evil, json_body={"description": "pwned"})
            body = _problem(reply, 403, "ORIGIN_NOT_ALLOWED")
            assert "JUNCTION_ALLOWED_HOSTS" in body["detail"]
        after = call(port, "GET", "/api/projects/p1").json()
    assert after["description"] == ""


def test_same_site_and_non_browser_writes_pass(app: Flask, project_dir: Any) -> None:
    with serving(app) as port:
        local = call(
            port,
            "POST",
            "/api/projects",
            headers={"Origin": f"http://localhost:{port}"},
            json_body={"name": "p2", "path": str(project_dir)},
        )
        plain = call(
            port, "POST", "/api/projects", json_body={"name": "p3", "path": str(project_dir)}
        )
    assert (local.status, plain.status) == (201, 201)


def test_the_planning_webhook_refuses_cross_site_posts_and_other_content_types(
    app: Flask,
) -> None:
    payload = '{"event": "issue", "action": "updated", "data": {"id": "x"}}'
    with serving(app) as port:
        cross = call(
            port,
            "POST",
            "/api/planning/webhooks",
            headers={"Origin": "https://attacker.example", "Content-Type": "text/plain"},
            body=payload,
        )
        text = call(
            port,
            "POST",
            "/api/planning/webhooks",
            headers={"Content-Type": "text/plain"},
            body=payload,
        )
    _problem(cross, 403, "ORIGIN_NOT_ALLOWED")
    body = _problem(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "application/json" in body["detail"]


# -- point 4: proxies --------------------------------------------------------------------------


@pytest.mark.parametrize("header", [h for h in hosts.PROXY_HEADERS if h != "Via"] + ["Via"])
def test_every_proxy_header_makes_a_local_request_forwarded(app: Flask, header: str) -> None:
    with serving(app) as port:
        reply = call(port, "GET", "/api/projects", headers={header: "203.0.113.7"})
    _problem(reply, 403, "LOOPBACK_ONLY")


def test_trusted_proxies_apply_x_forwarded_for_with_proxyfix(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app({"TRUSTED_PROXIES": 1})
    with serving(app) as port:
        # A client on this host, through the local proxy: the proxy says it was 127.0.0.1.
        assert (
            call(port, "GET", "/api/projects", headers={"X-Forwarded-For": "127.0.0.1"}).status
            == 200
        )
        # A remote client, and one that prepends a fake loopback address the proxy then extends.
        for chain in ("203.0.113.7", "127.0.0.1, 203.0.113.7"):
            reply = call(port, "GET", "/api/projects", headers={"X-Forwarded-For": chain})
            _problem(reply, 403, "LOOPBACK_ONLY")
        # Headers ProxyFix does not apply stay untrusted.
        reply = call(
            port,
            "GET",
            "/api/projects",
            headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"},
        )
        _problem(reply, 403, "LOOPBACK_ONLY")
        # The forwarded Host is the one validated.
        reply = call(
            port,
            "GET",
            "/api/projects",
            headers={"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": EVIL},
        )
        _problem(reply, 400, "HOST_NOT_ALLOWED")


def test_trusted_proxies_must_be_a_count() -> None:
    from app.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_config(__import__("pathlib").Path("/nonexistent"), {"JUNCTION_TRUSTED_PROXIES": "-1"})
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS"):
        load_config(__import__("pathlib").Path("/nonexistent"), {"JUNCTION_ALLOWED_HOSTS": "a/b"})
