"""The web console over the Flask test client: access, sign-in, CSRF, pages, escaping, panels.

The browser side (live updates, buttons, screenshots) is tests/e2e/test_console_browser.py.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, Response

from app import operations
from app.console import Panel
from app.console.markdown import render
from app.db import db
from app.domain.models import Feature, Project, TestRun
from app.hookspecs import hookimpl
from app.operations.models import Operation

TOKEN = "console-test-token-1"
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def signed_in_client(app: Flask) -> Any:
    client = app.test_client()
    form = client.get("/console/signin")
    response = client.post(
        "/console/signin",
        data={"token": TOKEN, "csrf_token": csrf_of(form.get_data(as_text=True)), "next": "/"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def token_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app({"JUNCTION_API_TOKENS": [TOKEN]})


def seed(app: Flask, project_dir: Path, name: str = "demo", description: str = "") -> None:
    """A project with features in each state, test runs and operations in each status."""
    with app.app_context():
        project = Project(name=name, path=str(project_dir), description=description)
        db.session.add(project)
        db.session.flush()
        features = [
            Feature(project_id=project.id, name="Login works", passes=True),
            Feature(project_id=project.id, name="Export runs", in_progress=True),
            Feature(project_id=project.id, name="Reports", planning_work_item_id="abcd" * 9),
        ]
        db.session.add_all(features)
        db.session.flush()
        now = dt.datetime.now(dt.UTC)
        db.session.add(
            TestRun(feature_id=features[0].id, passed=True, agent_type="testing", started_at=now)
        )
        db.session.add_all(
            [
                Operation(
                    kind="opsplugin.create_things",
                    status="running",
                    project=name,
                    progress={"done": 3, "total": 10, "percent": 30.0, "message": "working"},
                ),
                Operation(
                    kind="opsplugin.create_things",
                    status="failed",
                    error={"message": "upstream said no", "category": "permission"},
                ),
                Operation(kind="opsplugin.create_things", status="succeeded", result={"n": 1}),
            ]
        )
        db.session.commit()


# -- access ------------------------------------------------------------------------------------


def test_every_core_page_renders_with_data(app: Flask, client: Any, project_dir: Path) -> None:
    seed(app, project_dir)
    overview = client.get("/").get_data(as_text=True)
    for text in ("Health", "database", "migrations", "Scheduler", "Plugins", "planning", "hello"):
        assert text in overview
    assert 'data-operation-id="' in overview and 'value="30.0"' in overview
    assert "upstream said no" in overview
    assert "Junction 0.1.0" in overview
    assert 'id="scheduler-leader">no leader' in overview  # the lock is read, not "unknown"
    projects = client.get("/console/projects").get_data(as_text=True)
    assert "demo" in projects and "1 passing · 1 in progress · 1 open" in projects
    page = client.get("/console/projects/demo").get_data(as_text=True)
    assert "Login works" in page and "Export runs" in page and "testing" in page
    only_passing = client.get("/console/projects/demo?passes=yes").get_data(as_text=True)
    assert "Login works" in only_passing and "Export runs" not in only_passing
    linked = client.get("/console/projects/demo?linked=yes").get_data(as_text=True)
    assert "Reports" in linked and "Export runs" not in linked
    ops = client.get("/console/operations").get_data(as_text=True)
    assert "permission: upstream said no" in ops
    assert "/cancel" in ops and "/retry" in ops
    assert client.get("/console/events").status_code == 200
    assert client.get("/console/projects/nope").status_code == 404


def test_fragment_is_the_body_alone(app: Flask, client: Any, project_dir: Path) -> None:
    seed(app, project_dir)
    response = client.get("/console/operations?fragment=1")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and "upstream said no" in body


def test_page_carries_channels_and_the_event_id_it_was_rendered_at(app: Flask, client: Any) -> None:
    from app import events

    with app.app_context():
        events.publish("projects", "project.created", {"name": "x"})
        head = events.head_id()
    html = client.get("/console/operations").get_data(as_text=True)
    match = re.search(r'data-last-event-id="(\d+)"', html)
    assert match and int(match.group(1)) == head
    assert "data-channels='[\"operations\"]'" in html


def test_security_headers(client: Any) -> None:
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_every_response_says_nosniff_once(app: Flask, client: Any) -> None:
    @app.get("/test-nosniff/own")
    def own() -> Response:
        response = Response("{}", mimetype="application/json")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    for path in ("/", "/healthz", "/api/projects", "/nowhere", "/test-nosniff/own"):
        response = client.get(path)
        assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"], path
    # Not a console page: no console policy either.
    assert "Content-Security-Policy" not in client.get("/healthz").headers


def test_static_assets_are_served_locally(client: Any) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html.split("<body")[0] and "https://" not in html.split("<body")[0]
    for asset in ("console.css", "console.js", "favicon.svg"):
        assert client.get(f"/console/static/{asset}").status_code == 200


def test_without_tokens_only_direct_loopback(client: Any) -> None:
    assert client.get("/").status_code == 200
    remote = client.get("/", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403
    assert "loopback" in remote.get_data(as_text=True)
    forwarded = client.get("/", headers={"X-Forwarded-For": "10.1.2.3"})
    assert forwarded.status_code == 403
    assert client.get("/console/signin").status_code == 303  # nothing to sign in to


# -- sign-in -----------------------------------------------------------------------------------


def test_tokens_require_sign_in(token_app: Flask) -> None:
    client = token_app.test_client()
    response = client.get("/console/operations")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/signin?next=/console/operations"
    assert client.get("/?fragment=1").status_code == 401
    assert client.get("/", headers={"X-Requested-With": "junction-console"}).status_code == 401


def test_sign_in_sets_a_strict_http_only_expiring_cookie(token_app: Flask) -> None:
    client = token_app.test_client()
    form = client.get("/console/signin?next=/console/events")
    assert form.status_code == 200
    csrf = csrf_of(form.get_data(as_text=True))
    wrong = client.post("/console/signin", data={"token": "nope", "csrf_token": csrf})
    assert wrong.status_code == 401 and "not valid" in wrong.get_data(as_text=True)
    response = client.post(
        "/console/signin", data={"token": TOKEN, "csrf_token": csrf, "next": "/console/events"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/console/events"
    cookie = response.headers["Set-Cookie"]
    assert "junction_console=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http here
    assert TOKEN not in cookie
    assert client.get("/console/events").status_code == 200


def test_cookie_is_secure_over_https(token_app: Flask) -> None:
    client = token_app.test_client()
    form = client.get("/console/signin", base_url="https://localhost")
    response = client.post(
        "/console/signin",
        data={"token": TOKEN, "csrf_token": csrf_of(form.get_data(as_text=True))},
        base_url="https://localhost",
    )
    assert "Secure" in response.headers["Set-Cookie"]


def test_sign_in_refuses_a_missing_csrf_token(token_app: Flask) -> None:
    client = token_app.test_client()
    client.get("/console/signin")
    response = client.post("/console/signin", data={"token": TOKEN})
    assert response.status_code == 403 and "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 303  # still signed out


def test_sign_in_goes_nowhere_but_here(token_app: Flask) -> None:
    client = token_app.test_client()
    form = client.get("/console/signin")
    response = client.post(
        "/console/signin",
        data={
            "token": TOKEN,
            "csrf_token": csrf_of(form.get_data(as_text=True)),
            "next": "//evil.example/",
        },
    )
    assert response.headers["Location"] == "/"


def test_sign_out_clears_the_cookie(token_app: Flask) -> None:
    client = signed_in_client(token_app)
    html = client.get("/").get_data(as_text=True)
    assert "Sign out" in html
    refused = client.post("/console/signout")
    assert refused.status_code == 403
    response = client.post("/console/signout", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    assert "junction_console=;" in response.headers["Set-Cookie"]
    assert client.get("/").status_code == 303


def test_removing_the_token_ends_its_sessions(make_app: Callable[..., Flask]) -> None:
    # With a secret key the signature survives the change: the token check alone refuses.
    app = make_app({"JUNCTION_API_TOKENS": [TOKEN, "other-token"], "JUNCTION_SECRET_KEY": "k" * 44})
    client = signed_in_client(app)
    assert client.get("/").status_code == 200
    assert client.get("/api/projects").status_code == 200
    app.config["JUNCTION_API_TOKENS"] = ["other-token"]
    assert client.get("/").status_code == 303
    assert client.get("/api/projects").status_code == 401


def test_a_forged_or_expired_cookie_is_refused(token_app: Flask) -> None:
    client = token_app.test_client()
    client.set_cookie("junction_console", "eyJ0IjoiYWJjIiwiYyI6Inh5eiJ9.forged.sig")
    assert client.get("/").status_code == 303
    signed = signed_in_client(token_app)
    token_app.config["JUNCTION_CONSOLE_SESSION_SECONDS"] = -1  # every signature is too old
    assert signed.get("/").status_code == 303


# -- CSRF and the API --------------------------------------------------------------------------


def _running_operation(app: Flask) -> str:
    with app.app_context():
        operation = Operation(kind="opsplugin.create_things", status="pending", params={})
        db.session.add(operation)
        db.session.commit()
        return operation.id


def test_console_buttons_need_the_csrf_token(app: Flask, client: Any) -> None:
    operation_id = _running_operation(app)
    html = client.get("/console/operations").get_data(as_text=True)
    refused = client.post(f"/console/operations/{operation_id}/cancel")
    assert refused.status_code == 403
    wrong = client.post(f"/console/operations/{operation_id}/cancel", data={"csrf_token": "x"})
    assert wrong.status_code == 403
    with app.app_context():
        pending = db.session.get(Operation, operation_id)
        assert pending is not None and pending.status == "pending"
    done = client.post(
        f"/console/operations/{operation_id}/cancel", data={"csrf_token": csrf_of(html)}
    )
    assert done.status_code == 200 and "Cancel requested" in done.get_data(as_text=True)
    with app.app_context():
        cancelled = db.session.get(Operation, operation_id)
        assert cancelled is not None and cancelled.status == "cancelled"
    again = client.post(
        f"/console/operations/{operation_id}/retry",
        data={"csrf_token": csrf_of(html)},
        headers={"X-Requested-With": "junction-console"},
    )
    assert again.status_code == 200 and again.get_json()["ok"] is True
    finished = client.post(
        f"/console/operations/{operation_id}/retry",
        headers={"X-Requested-With": "junction-console", "X-CSRF-Token": csrf_of(html)},
    )
    assert finished.status_code == 409 and finished.get_json()["ok"] is False


def test_session_cookie_reads_the_api_and_changes_it_only_with_the_csrf_header(
    token_app: Flask, project_dir: Path
) -> None:
    client = signed_in_client(token_app)
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    assert client.get("/api/projects").status_code == 200
    assert client.get("/api/events?channel=projects").status_code == 200
    body = {"name": "viaconsole", "path": str(project_dir)}
    refused = client.post("/api/projects", json=body)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "CSRF_TOKEN_INVALID"
    wrong = client.post("/api/projects", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert client.get("/api/projects/viaconsole").status_code == 404
    created = client.post("/api/projects", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    # No cookie: the API still wants a bearer token.
    assert token_app.test_client().get("/api/projects").status_code == 401


def test_session_counts_as_an_operator_for_readyz(token_app: Flask) -> None:
    assert "checks" not in token_app.test_client().get("/readyz").get_json()
    assert "checks" in signed_in_client(token_app).get("/readyz").get_json()


def test_a_bearer_header_decides_alone(token_app: Flask) -> None:
    client = signed_in_client(token_app)
    response = client.get("/api/projects", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 403


# -- escaping ----------------------------------------------------------------------------------


def test_hostile_names_are_escaped_everywhere(app: Flask, client: Any, project_dir: Path) -> None:
    seed(app, project_dir, name=HOSTILE[:64], description=HOSTILE)
    with app.app_context():
        feature = db.session.scalar(sa.select(Feature).where(Feature.name == "Login works"))
        assert feature is not None
        feature.name = HOSTILE
        operation = db.session.scalar(sa.select(Operation).where(Operation.status == "failed"))
        assert operation is not None
        operation.error = {"message": HOSTILE}
        db.session.commit()
    from app import events

    with app.app_context():
        events.publish("projects", "project.updated", {"name": HOSTILE})
    for path in ("/", "/console/projects", "/console/operations", "/console/events"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(2)" not in html and "<img src=x" not in html, path
    html = client.get("/console/projects").get_data(as_text=True)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html or "&lt;img" in html


# -- plugin panels -----------------------------------------------------------------------------


def test_hello_panel_renders_and_acts(app: Flask, client: Any) -> None:
    page = client.get("/console/hello/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "No greeting yet." in html
    assert '<a href="/console/hello/" aria-current="page">Hello</a>' in html
    assert client.post("/console/hello/greet", data={"name": "Ada"}).status_code == 403
    answer = client.post(
        "/console/hello/greet",
        data={"name": HOSTILE[:90], "csrf_token": csrf_of(html)},
        headers={"X-Requested-With": "junction-console"},
    )
    assert answer.status_code == 200 and answer.get_json()["ok"] is True
    shown = client.get("/console/hello/?fragment=1").get_data(as_text=True)
    assert "&lt;img src=x" in shown and "<img src=x" not in shown
    blank = client.post("/console/hello/greet", data={"name": " ", "csrf_token": csrf_of(html)})
    assert blank.status_code == 422 and "must not be blank" in blank.get_data(as_text=True)


def _panel_plugin(*panels: Any) -> types.ModuleType:
    module = types.ModuleType("panelprobe")

    @hookimpl
    def junction_console_panels() -> list[Any]:
        return list(panels)

    module.junction_console_panels = junction_console_panels  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize(
    ("panel", "error"),
    [
        ({"title": "T", "template": "panelprobe/x.html", "name": "other"}, "namespace"),
        ({"title": "T", "template": "other/x.html"}, "must be named 'panelprobe/...'"),
        ({"title": "T", "template": "panelprobe/x.html", "path": "../admin"}, "lower-case"),
        ({"title": "T", "template": "panelprobe/x.html", "channels": ["bad channel"]}, "channel"),
        ({"title": "", "template": "panelprobe/x.html"}, "needs a title"),
        ({"title": "T", "template": "panelprobe/x.html", "colour": "red"}, "unknown fields"),
    ],
)
def test_malformed_or_foreign_panels_fail_their_plugin(
    make_app: Callable[..., Flask], panel: dict[str, Any], error: str
) -> None:
    app = make_app(extra_plugins=[("panelprobe", _panel_plugin(panel))])
    info = app.extensions["junction"].registry.infos["panelprobe"]
    assert info.status == "failed" and error in info.error
    assert app.test_client().get("/").status_code == 200  # the console carries on


def test_a_panel_is_mounted_under_its_plugin(make_app: Callable[..., Flask]) -> None:
    panel = Panel(
        title="Probe",
        template="hello/panel.html",
        view=lambda: {"greetings": [], "counts": {"total": 0, "pending": 0}},
        path="sub/page",
    )
    # A template of another plugin's folder is refused even when the file exists.
    app = make_app(extra_plugins=[("panelprobe", _panel_plugin(panel))])
    assert app.extensions["junction"].registry.infos["panelprobe"].status == "failed"
    assert app.test_client().get("/console/panelprobe/sub/page").status_code == 404


# -- Markdown ----------------------------------------------------------------------------------


def test_markdown_escapes_before_it_formats() -> None:
    html = render(
        "# Sprint <b>5</b>\n\n- **bold** and *em* and `<code>`\n- [ok](https://example.com)\n"
        '- [bad](javascript:alert(1)) [quote](https://x/" onmouseover="alert(1))\n\n'
        "<script>alert(1)</script>\n\n```\n<img src=x onerror=alert(1)>\n```\n1. one\n"
    )
    assert "<h1>Sprint &lt;b&gt;5&lt;/b&gt;</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert "<code>&lt;code&gt;</code>" in html
    assert '<a href="https://example.com" rel="nofollow noopener">ok</a>' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")
    assert 'href="javascript' not in html and "<script>" not in html
    assert "onmouseover=" not in html.replace("&#34; onmouseover=&#34;", "")
    assert "<pre><code>&lt;img src=x onerror=alert(1)&gt;</code></pre>" in html
    assert "<ol>\n<li>one</li>\n</ol>" in html


def test_operations_chart_counts_by_hour(app: Flask, project_dir: Path) -> None:
    from app.console import data

    seed(app, project_dir)
    with app.app_context():
        buckets = data.operations_by_hour()
        assert len(buckets) == 24
        last = buckets[-1][1]
        assert (last["running"], last["failed"], last["succeeded"]) == (1, 1, 1)
        operations.runtime(app)  # the runtime exists: pages read through the same services


def test_a_failing_panel_view_leaves_the_frame_standing(make_app: Callable[..., Flask]) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    panel = Panel(title="Probe", template="panelprobe/x.html", view=broken, channels=["x"])
    app = make_app(extra_plugins=[("panelprobe", _panel_plugin(panel))])
    client = app.test_client()
    page = client.get("/console/panelprobe/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "failed to render" in html and "boom" not in html
    assert '<a href="/console/panelprobe/" aria-current="page">Probe</a>' in html
    # A plugin that fails later loses its pages: 503, and they leave the navigation.
    app.extensions["junction"].registry.mark_failed("panelprobe", RuntimeError("x"), "test")
    assert client.get("/console/panelprobe/").status_code == 503
    assert "/console/panelprobe/" not in client.get("/").get_data(as_text=True)
