"""End to end: ``/api/redoc`` and ``/api/docs`` render in a real browser with no internet.

Chromium (Debian's ``chromium``, driven by Playwright with ``executable_path``; no browser is
downloaded) loads the pages from a Junction served on a loopback port while every request to any
other host is blocked and recorded. The pages must render their operation lists and must not
even try to reach another host. Skipped, with the reason, where Chromium or Playwright is not
installed.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
)
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

RENDER_TIMEOUT_MS = 60_000


@pytest.fixture
def base_url(make_app: Callable[..., Flask]) -> Iterator[str]:
    """Junction on a loopback port (no token: loopback clients are answered)."""
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def offline_page(base_url: str) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page whose requests to any host but Junction's are aborted (and listed)."""
    blocked: list[str] = []
    own = urlsplit(base_url).netloc

    def route(request_route: Any) -> None:
        url = request_route.request.url
        parts = urlsplit(url)
        if parts.scheme in {"http", "https"} and parts.netloc != own:
            blocked.append(url)
            request_route.abort("internetdisconnected")
        else:
            request_route.continue_()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            context = browser.new_context()
            context.route("**/*", route)
            yield context.new_page(), blocked
        finally:
            browser.close()


def _operations(base_url: str) -> int:
    document = requests.get(f"{base_url}/api/openapi.json", timeout=10).json()
    return sum(
        1
        for item in document["paths"].values()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    )


def test_redoc_renders_the_operations_offline(
    base_url: str, offline_page: tuple[Any, list[str]]
) -> None:
    page, blocked = offline_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base_url}/api/redoc")
    page.get_by_role("heading", name="List every discovered plugin").first.wait_for(
        timeout=RENDER_TIMEOUT_MS
    )
    # The side menu lists every tag, and under them every operation of the document.
    items = page.locator("li[role=menuitem]")
    ids = items.evaluate_all("items => items.map(item => item.dataset.itemId)")
    tags = {i.removeprefix("tag/") for i in ids if "/paths/" not in i}
    assert {"projects", "planning", "events", "operations"} <= tags, ids
    labels = items.evaluate_all("items => items.map(item => item.getAttribute('aria-label'))")
    assert any(label.startswith("Receive a Plane webhook delivery") for label in labels)
    assert sum("/paths/" in i for i in ids) == _operations(base_url)
    assert blocked == []
    assert errors == []


def test_swagger_ui_renders_the_operations_offline(
    base_url: str, offline_page: tuple[Any, list[str]]
) -> None:
    page, blocked = offline_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base_url}/api/docs")
    page.locator(".swagger-ui").first.wait_for(timeout=RENDER_TIMEOUT_MS)
    assert blocked == []  # offline already: every file comes from Junction
    operations = page.locator(".opblock-summary-path")
    operations.first.wait_for(timeout=10_000)
    assert operations.count() == _operations(base_url)
    # Swagger UI 5 reads the OpenAPI 3.1 document (4.x showed "does not specify a valid version
    # field" instead of the operations), and the online validator badge is off.
    assert page.get_by_text("valid version field").count() == 0
    assert page.locator(".swagger-ui .errors-wrapper").count() == 0
    assert page.locator(".swagger-ui .info .title").first.inner_text().strip()
    assert page.locator("img[src*='validator']").count() == 0
    assert blocked == []
    assert errors == []
