"""The blackboard panel in a real browser: publish from the form, then watch the cascade grow.

The deployment, browser and signed-in page are those of ``test_console_browser.py``. The agent
is an HTTP agent served by the test: it answers each delivery with a ``plan`` only when the test
gives a permit, so the ``plan`` artifact appears exactly when the test lets it — no sleeps — and
the page must show it without a reload. Screenshots at 1280 and 390 px go to
``tests/artifacts/screenshots/blackboard-*.png``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from plugins.blackboard import signing
from tests.e2e import test_console_browser as console_e2e
from tests.e2e.test_console_browser import HOSTILE, Env, shoot, wait_live

pytestmark = pytest.mark.e2e
# The console browser tests' fixtures: a gunicorn deployment (for this module), the browser,
# a signed-in page.
env, browser, page = console_e2e.env, console_e2e.browser, console_e2e.page
SECRET = "panel-agent-secret-0123456789"


class GatedAgent:
    """An HTTP blackboard agent: checks the signature, then waits for a permit to answer."""

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)
        self.deliveries = 0
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if not signing.verify(SECRET, raw, self.headers.get(signing.SIGNATURE_HEADER)):
                    return self._answer(401, {"error": "bad signature"})
                agent.deliveries += 1
                agent.permits.acquire(timeout=60)
                steps = [
                    f"plan for {a['payload'].get('title')}" for a in json.loads(raw)["artifacts"]
                ]
                return self._answer(
                    200, {"artifacts": [{"type": "plan", "payload": {"steps": steps}}]}
                )

            def _answer(self, status: int, data: Any) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/agent"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for _ in range(100):
            self.permits.release()  # never leave a gunicorn runner waiting on the agent
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def agent(env: Env) -> Iterator[GatedAgent]:
    gated = GatedAgent()
    try:
        yield gated
    finally:
        gated.close()
        env.api("DELETE", "/api/v1/agents/planner_http")


def test_publish_from_the_form_and_the_cascade_grows_live(
    page: Any, env: Env, agent: GatedAgent
) -> None:
    for body in (
        {
            "name": "idea",
            "schema": {"type": "object", "required": ["title"]},
            "description": f"An idea {HOSTILE}",
        },
        {"name": "plan", "schema": {"type": "object"}},
    ):
        answer = env.api("POST", "/api/v1/artifact-types", json=body)
        assert answer.status_code in (201, 409), answer.text
    registered = env.api(
        "POST",
        "/api/v1/agents",
        json={
            "name": "planner_http",
            "url": agent.url,
            "secret": SECRET,
            "subscriptions": [{"types": ["idea"]}],
            "timeout_seconds": 60,
            "max_attempts": 1,
        },
    )
    assert registered.status_code == 201, registered.text

    page.goto(env.url + "/console/blackboard/")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    assert page.locator('#agent-planner_http[data-circuit="closed"]').is_visible()
    page.locator("#bb-type").select_option("idea")
    page.locator("#bb-payload").fill(json.dumps({"title": f"dark {HOSTILE}"}))
    page.get_by_role("button", name="Publish").click()
    notice = page.locator("#notice")
    notice.get_by_text("Published idea").wait_for()
    match = re.search(r"in correlation ([0-9a-f-]{36})\.", notice.inner_text())
    assert match, notice.inner_text()
    cid = match.group(1)
    page.locator(f"#corr-{cid}").wait_for()  # the new cascade is listed without a reload
    assert page.evaluate("window.__notReloaded") is True

    page.locator(f"#corr-{cid} a").click()
    page.wait_for_url(f"{env.url}/console/blackboard/?correlation={cid}")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    cascade = page.locator("#correlation")
    cascade.locator('li.artifact[data-type="idea"]').wait_for()
    consumption = cascade.locator('li.consumption[data-agent="planner_http"]')
    assert consumption.get_attribute("data-status") in ("pending", "running")
    assert cascade.locator('li.artifact[data-type="plan"]').count() == 0
    shoot(page, "blackboard-cascade-waiting")

    agent.permits.release()  # the agent answers: its plan joins the cascade
    plan = cascade.locator(
        'li.consumption[data-agent="planner_http"] li.artifact[data-type="plan"]'
    )
    plan.wait_for()
    page.locator('li.consumption[data-agent="planner_http"][data-status="done"]').wait_for()
    page.locator('#correlation[data-state="completed"]').wait_for()
    assert "by planner_http" in plan.inner_text()
    assert page.evaluate("window.__notReloaded") is True
    assert agent.deliveries == 1
    # Hostile payloads and descriptions stay text in a real browser.
    assert "<script>alert(2)</script>" in cascade.inner_text()  # the payloads, as JSON text
    assert f"An idea {HOSTILE}" in page.locator("main").inner_text()  # the type's description
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert page.dialogs == []
    shoot(page, "blackboard-cascade")
