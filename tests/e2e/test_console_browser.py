"""The web console in a real browser: Playwright driving Debian's Chromium against gunicorn.

One gunicorn (two workers, API tokens set, the ``opsplugin`` test plugin beside the installed
ones) serves the module. The browser signs in, watches an operation's progress bar move while
the operation runs (its external calls are gated by the test, so progress happens exactly when
the test allows it, without sleeps), cancels it with the button, toggles the planning sync
against the fake Plane, shows hostile names and release notes as text, and notices when the
stream goes down. Every page is photographed at 1280 px and 390 px into
``tests/artifacts/screenshots/`` (git-ignored).

Skipped, saying why, where Chromium (``apt-get install -y chromium``) or the ``playwright``
package (the test extras) is missing; ``playwright install`` is never needed.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import ROOT, Gunicorn, fresh_database, migrate_database, redis_url, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("JUNCTION_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "e2e-console-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
WIDTHS = (1280, 390)

if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install -e .[test])"
)


class GatedThings:
    """The external service of ``opsplugin``: each create waits for a permit from the test."""

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)
        self.created = 0
        self.lock = threading.Lock()
        things = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                things.permits.acquire(timeout=120)
                with things.lock:
                    things.created += 1
                payload = json.dumps({"id": uuid.uuid4().hex, **body}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def allow(self, count: int) -> None:
        for _ in range(count):
            self.permits.release()

    def close(self) -> None:
        self.allow(1000)
        self.server.shutdown()
        self.server.server_close()


class Env:
    """The running deployment: gunicorn, an in-process app on the same database, the fakes."""

    def __init__(self, server: Gunicorn, app: Any, things: GatedThings, project_path: Path):
        self.server, self.app, self.things, self.project_path = server, app, things, project_path
        self.url = server.url

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, headers=BEARER, timeout=10, **kwargs)

    def submit(self, params: dict[str, Any], max_attempts: int | None = None) -> str:
        from app import operations
        from tests.fixture_plugins import opsplugin

        with self.app.app_context():
            return operations.submit(opsplugin.KIND, params, max_attempts=max_attempts).id

    def operation(self, operation_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/operations/{operation_id}").json()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from app import create_app
    from app.db import db
    from tests.fixture_plugins import opsplugin

    tmp = tmp_path_factory.mktemp("console")
    instance = tmp / "instance"
    instance.mkdir()
    project_path = tmp / "checkout"
    (project_path / "releases").mkdir(parents=True)
    things = GatedThings()
    with fresh_database(tmp) as url:
        migrate_database(url, instance)
        environ = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_API_TOKENS": TOKEN,
            "JUNCTION_SECRET_KEY": "e2e-console-secret-key-0123456789abcdef",
            "JUNCTION_SCHEDULER": "auto",
            "JUNCTION_LOG_LEVEL": "warning",
            "JUNCTION_ACCESS_LOG": "off",
        }
        if redis_url():
            environ["JUNCTION_REDIS_URL"] = redis_url() or ""
        server = Gunicorn(environ, workers=2, threads=8, app="tests.e2e.ops_wsgi:app")
        server.start(tmp / "gunicorn.log")
        app = create_app(
            {
                "JUNCTION_DATABASE_URL": url,
                "JUNCTION_SCHEDULER": "off",
                "JUNCTION_LOG_LEVEL": "warning",
            },
            instance_path=instance,
            extra_plugins=[("opsplugin", opsplugin)],
            environ={k: v for k, v in environ.items() if k != "JUNCTION_SCHEDULER"},
        )
        try:
            yield Env(server, app, things, project_path)
        finally:
            things.close()
            server.stop()
            with app.app_context():
                db.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, env: Env) -> Iterator[Any]:
    """A signed-in page at 1280 px that records any JavaScript dialog (an injection).

    The context bypasses the console's Content-Security-Policy: Playwright evaluates its waits
    as strings, which the policy forbids, and the escaping tests then show that the markup is
    inert on its own, not only because the policy would block an inline script.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.dialogs = []  # the page is untyped (Any) here: an attribute of our own
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(env.url + "/")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(env.url + "/")
    yield page
    context.close()


def wait_live(page: Any) -> None:
    page.wait_for_function("window.junctionConsole && window.junctionConsole.state === 'live'")


def shoot(page: Any, name: str) -> None:
    """Screenshots of the current page at each width (full page), and in dark mode."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        # Nothing sticks out sideways: wide tables scroll inside their own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SHOTS / f"{name}-1280-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")


# -- sign-in and CSRF ----------------------------------------------------------------------------


def test_sign_in_and_csrf_refusal(browser: Any, env: Env) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(env.url + "/console/operations")
    assert page.url.startswith(env.url + "/console/signin")
    shoot(page, "signin")
    page.get_by_label("API token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "That token is not valid."
    page.get_by_label("API token").fill(TOKEN)
    page.keyboard.press("Enter")
    page.wait_for_url(env.url + "/console/operations")
    wait_live(page)
    cookie = next(c for c in context.cookies() if c["name"] == "junction_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts

    # The session reads the API; a change without the CSRF header is refused.
    assert page.request.get(env.url + "/api/projects").status == 200
    refused = page.request.post(
        env.url + "/api/projects", data={"name": "csrfless", "path": str(env.project_path)}
    )
    assert refused.status == 403 and refused.json()["code"] == "CSRF_TOKEN_INVALID"
    assert env.api("GET", "/api/projects/csrfless").status_code == 404
    form_refused = page.request.post(env.url + "/console/signout", form={"x": "1"})
    assert form_refused.status == 403

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(env.url + "/console/signin")
    page.goto(env.url + "/")
    assert page.url.startswith(env.url + "/console/signin")
    context.close()


# -- live progress and buttons -------------------------------------------------------------------


def test_progress_bar_moves_live_and_cancel_takes_effect(page: Any, env: Env) -> None:
    page.goto(env.url + "/console/operations")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    operation_id = env.submit({"base_url": env.things.url, "count": 10, "prefix": "live"})
    row = page.locator(f"#op-{operation_id}")
    row.wait_for()  # arrived without a reload: the created event re-rendered the body
    bar = f"document.querySelector('.progress[data-operation-id=\"{operation_id}\"] progress')"
    env.things.allow(3)
    page.wait_for_function(f"{bar} && {bar}.value >= 30")
    env.things.allow(3)
    page.wait_for_function(f"{bar} && {bar}.value >= 60")
    assert "6 of 10" in row.locator(".progress-text").inner_text()
    shoot(page, "operations-running")
    assert page.evaluate("window.__notReloaded") is True

    row.get_by_role("button", name="Cancel").click()
    page.locator("#notice").get_by_text("Cancel requested").wait_for()
    env.things.allow(1)  # the handler reaches its next cancellation check
    wait_until(lambda: env.operation(operation_id)["status"] == "cancelled", what="cancelled")
    page.locator(f'#op-{operation_id}[data-status="cancelled"]').wait_for()
    assert page.locator(f"#op-{operation_id}").get_by_role("button", name="Retry").is_visible()
    assert page.evaluate("window.__notReloaded") is True


def test_every_panel_renders_with_data(page: Any, env: Env) -> None:
    # Data for every page: a project with features and a test run, a finished, a failed and a
    # pending operation, a greeting, release notes.
    assert env.api(
        "POST", "/api/projects", json={"name": "demo", "path": str(env.project_path)}
    ).status_code in (201, 409)
    for index, (name, passes, busy) in enumerate(
        [("Login", True, False), ("Export", False, True), ("Reports", False, False)]
    ):
        created = env.api(
            "POST",
            "/api/projects/demo/features",
            json={"name": name, "passes": passes, "in_progress": busy, "priority": index},
        ).json()
        env.api(
            "POST",
            f"/api/projects/demo/features/{created['id']}/test-runs",
            json={"passed": passes, "agent_type": "testing", "started_at": "2026-01-01T10:00:00Z"},
        )
    env.submit({"base_url": env.things.url, "count": 0, "prefix": "none"})
    failing = env.submit({"base_url": "http://127.0.0.1:9", "count": 1, "prefix": "x"}, 1)
    wait_until(lambda: env.operation(failing)["status"] == "failed", what="a failed operation")
    env.api("POST", "/api/hello/greetings", json={"name": "Ada"})
    (env.project_path / "releases" / "sprint-sprint-5.md").write_text(
        "# Sprint 5 Release Notes\n\n- Completed: **3** features\n- Git tag: `sprint/sprint-5`\n"
    )

    checks = {
        "overview": ("/", ["Health", "Scheduler", "Plugins", "Progress per project"]),
        "projects": ("/console/projects", ["demo", "1 passing"]),
        "project": ("/console/projects/demo", ["Login", "Latest test runs"]),
        "operations": ("/console/operations", ["Failed", "ConnectionError"]),
        "events": ("/console/events", ["operation.failed"]),
        "planning": ("/console/planning/", ["demo", "Sprint progress", "sprint-sprint-5.md"]),
        "hello": ("/console/hello/", ["Ada"]),
    }
    for name, (path, texts) in checks.items():
        page.goto(env.url + path)
        wait_live(page)
        body = page.locator("main").inner_text()
        for text in texts:
            assert text in body, f"{path} lacks {text!r}"
        shoot(page, name)
    page.goto(env.url + "/console/planning/?notes=demo&file=sprint-sprint-5.md")
    assert page.locator("article.markdown strong").inner_text() == "3"
    shoot(page, "planning-release-notes")


def test_keyboard_reaches_the_skip_link_and_the_navigation(page: Any, env: Env) -> None:
    page.goto(env.url + "/console/operations")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    current = page.locator('nav a[aria-current="page"]')
    assert current.inner_text() == "Operations"


def test_planning_toggle_against_the_fake_plane(page: Any, env: Env) -> None:
    from tests.fakes.plane import FakePlane

    with FakePlane() as fake:
        plane_project = fake.add_project()
        env.api("POST", "/api/projects", json={"name": "demo", "path": str(env.project_path)})
        for body in (
            {
                "planning_api_url": fake.url,
                "planning_api_key": fake.api_key,
                "planning_workspace_slug": fake.workspace,
            },
            {"project_name": "demo", "planning_project_id": plane_project},
        ):
            assert env.api("POST", "/api/planning/config", json=body).status_code == 200
        page.goto(env.url + "/console/planning/")
        wait_live(page)
        section = page.locator("section", has=page.get_by_role("heading", name="demo"))
        section.get_by_role("button", name="Turn sync on").click()
        page.locator("#notice").get_by_text("Sync for demo is now on.").wait_for()
        section.get_by_role("button", name="Turn sync off").wait_for()
        status = env.api("GET", "/api/planning/sync-status?project_name=demo").json()
        assert status["enabled"] is True
        shoot(page, "planning-sync-on")
        section.get_by_role("button", name="Turn sync off").click()
        section.get_by_role("button", name="Turn sync on").wait_for()
        status = env.api("GET", "/api/planning/sync-status?project_name=demo").json()
        assert status["enabled"] is False


def test_hostile_names_and_notes_stay_text(page: Any, env: Env) -> None:
    from app.db import db
    from app.domain.models import Feature, Project

    with env.app.app_context():
        project = Project(name=HOSTILE[:64], path=str(env.project_path), description=HOSTILE)
        db.session.add(project)
        db.session.flush()
        db.session.add(Feature(project_id=project.id, name=HOSTILE))
        db.session.commit()
    (env.project_path / "releases" / "sprint-evil.md").write_text(
        f"# Evil {HOSTILE}\n\n- [click](javascript:alert(3))\n- {HOSTILE}\n"
    )
    for path in ("/", "/console/projects", "/console/planning/?notes=demo&file=sprint-evil.md"):
        page.goto(env.url + path)
        wait_live(page)
        assert '<img src=x onerror="alert(1)">' in page.locator("main").inner_text(), path
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    shoot(page, "planning-hostile-notes")
    assert page.dialogs == []


def test_stream_down_is_shown(page: Any, env: Env) -> None:
    # Last: it stops the server.
    page.goto(env.url + "/console/operations")
    wait_live(page)
    env.server.stop()
    page.wait_for_function("window.junctionConsole.state === 'down'")
    assert "Live stream down" in page.locator("#stream-status").inner_text()
    shoot(page, "stream-down")
