"""The jira panel in a real browser: an export's progress bar moves without a reload.

The deployment, browser and signed-in page are those of ``test_console_browser.py`` (gunicorn
with two workers and API tokens). The fake Jira runs in the test process and holds the answer
of each issue create until the test gives a permit, so the bar moves exactly when the test lets
the export go on — no sleeps. Screenshots at 1280 and 390 px go to
``tests/artifacts/screenshots/jira-*.png``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import test_console_browser as console_e2e
from tests.e2e.test_console_browser import HOSTILE, Env, shoot, wait_live

pytestmark = pytest.mark.e2e
# The console browser tests' fixtures: a gunicorn deployment (for this module), the browser,
# a signed-in page.
env, browser, page = console_e2e.env, console_e2e.browser, console_e2e.page
TICKETS = 4


@pytest.fixture
def fake_jira() -> Iterator[Any]:
    from tests.fakes.jira import FakeJira
    from tests.fakes.jira.demo import seed_demo

    fake = FakeJira()
    seed_demo(fake)
    with fake:
        yield fake
    assert fake.violations == []


def test_export_progress_moves_live_then_results_link_into_jira(
    page: Any, env: Env, fake_jira: Any
) -> None:
    fake = fake_jira
    permits = threading.Semaphore(0)
    for count in range(1, TICKETS + 1):  # one gate per create: its answer waits for a permit
        fake.faults.after_creates(count, lambda: permits.acquire(timeout=60))
    try:
        configured = env.api(
            "POST",
            "/api/jira/config",
            json={
                "site_url": fake.url,
                "email": fake.email,
                "api_token": fake.token,
                "default_project_key": "DEMO",
                "pacing": "fixed",
                "pacing_seconds": 0,
            },
        )
        assert configured.status_code == 200, configured.text
        made = env.api("POST", "/api/jira/sessions", json={"name": f"Release {HOSTILE}"})
        assert made.status_code == 201, made.text
        sid = made.json()["id"]
        previous: list[str] = []
        for index in range(TICKETS):
            body = {"title": f"Ticket {index} {HOSTILE}", "dependencies": previous[-1:]}
            created = env.api("POST", f"/api/jira/sessions/{sid}/tickets", json=body)
            assert created.status_code == 201, created.text
            previous.append(created.json()["id"])

        page.goto(f"{env.url}/console/jira/?session={sid}")
        wait_live(page)
        page.evaluate("window.__notReloaded = true")
        section = page.locator("#jira-session")
        bar = "document.querySelector('#jira-session progress')"
        section.get_by_role("button", name="Export to Jira").click()
        page.locator("#notice").get_by_text("Export of 4 tickets to DEMO started").wait_for()
        page.locator('#jira-session[data-session-status="exporting"]').wait_for()

        permits.release()
        page.wait_for_function(f"{bar}.value >= 25")
        permits.release()
        page.wait_for_function(f"{bar}.value >= 50")
        assert "2 of 4" in section.locator(".progress-text").inner_text()
        assert page.evaluate(f"{bar}.value") < 100  # mid-export: the next create is held
        shoot(page, "jira-exporting")
        assert page.evaluate("window.__notReloaded") is True

        permits.release()
        permits.release()
        page.locator('#jira-session[data-session-status="completed"]').wait_for()
        assert page.evaluate(f"{bar}.value") == 100
        links = section.locator(f'a[href^="{fake.url}/browse/DEMO-"]')
        assert links.count() == 2 * TICKETS  # the tickets table and the results list
        assert "4 issues created · 3 dependency links" in section.inner_text()
        assert page.evaluate("window.__notReloaded") is True
        # Hostile titles stay text in a real browser too.
        assert '<img src=x onerror="alert(1)">' in section.inner_text()
        assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
        assert page.dialogs == []
        shoot(page, "jira-results")
    finally:
        for _ in range(TICKETS):
            permits.release()  # never leave a gunicorn runner waiting on the fake
