"""The jira panel of the web console against the fake Jira: sessions and tickets, the export's
progress and channel, failures with their recovery actions and Retry, results with links into
Jira built only from the configured site, CSRF on both actions, hostile text escaped."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from app.db import db
from plugins.jira.models import ExportSession, Ticket
from tests.plugins.jira.conftest import Env

PANEL = "/console/jira/"
JSON = {"X-Requested-With": "junction-console"}
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
THREE: list[dict[str, Any]] = [
    {"title": "A"},
    {"title": "B", "dependencies": [0]},
    {"title": "C", "dependencies": [1]},
]


def page(env: Env, query: str = "") -> str:
    response = env.get(PANEL + query)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def csrf(env: Env) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page(env))
    assert match
    return match.group(1)


def act(env: Env, action: str, **form: str) -> Any:
    return env.client.post(f"{PANEL}{action}", data={**form, "csrf_token": csrf(env)}, headers=JSON)


def channels_of(html: str) -> list[str]:
    match = re.search(r"data-channels='([^']*)'", html)
    assert match
    return json.loads(match.group(1).replace("&#34;", '"').replace("&quot;", '"'))


def test_empty_panel_says_how_to_start(env: Env) -> None:
    html = page(env)
    assert "No export session yet" in html
    assert channels_of(html) == ["operations"]


def test_sessions_and_tickets_render_escaped_and_the_page_follows_the_session(env: Env) -> None:
    made = env.session([{"title": HOSTILE}, {"title": "Second", "dependencies": [0]}])
    env.client.patch(f"/api/jira/sessions/{made['id']}", json={"name": f"Sprint {HOSTILE}"})
    listing = page(env)
    assert f'href="/console/jira/?session={made["id"]}"' in listing
    assert "Sprint &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in listing
    assert "<script>alert(2)" not in listing and "<img src=x" not in listing
    assert "0 % · 0 of 2" in listing  # the list's progress bar

    detail = page(env, f"?session={made['id']}")
    assert 'data-session-status="draft"' in detail
    assert detail.count("<tr data-ticket-id=") == 2
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in detail and "<script>alert" not in detail
    assert "Export to Jira" in detail
    # The page follows the session's own export channel, besides the panel's channels.
    assert channels_of(detail) == ["operations", f"jira:export:{made['id']}"]
    fragment = env.get(f"{PANEL}?session={made['id']}&fragment=1").get_data(as_text=True)
    assert "<nav" not in fragment and 'id="jira-session"' in fragment


def test_unknown_or_malformed_session_is_a_message_not_an_error(env: Env) -> None:
    for value in ("not-a-uuid", "00000000-0000-4000-8000-000000000000", '"><script>x</script>'):
        html = page(env, f"?session={value}")
        assert "Session not found" in html
        assert "<script>x" not in html


def test_export_needs_csrf_then_runs_and_links_into_jira(env: Env) -> None:
    sid = env.session(THREE)["id"]
    refused = env.client.post(f"{PANEL}export", data={"session_id": sid}, headers=JSON)
    assert refused.status_code == 403
    assert env.status_row(sid)["status"] == "draft"
    assert not env.fake.issues("DEMO")

    started = act(env, "export", session_id=sid)
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["message"].startswith("Export of 3 tickets to DEMO started")
    running = page(env, f"?session={sid}")
    assert 'data-session-status="exporting"' in running
    task = env.status_row(sid)["export_task_id"]
    assert f'data-operation-id="{task}"' in running  # the core's script moves this bar live
    again = act(env, "export", session_id=sid)
    assert again.get_json()["message"].startswith("The export of this session is already running")

    env.run()
    done = page(env, f"?session={sid}")
    assert 'data-session-status="completed"' in done
    assert "100.0 % · 3 of 3" in done
    keys = [t["jira_ticket_key"] for t in env.status_row(sid)["tickets"]]
    for key in keys:
        assert f'<a href="{env.fake.url}/browse/{key}" rel="noopener noreferrer"' in done
    assert "3 issues created · 2 dependency links · 0 manual fixes" in done
    assert "Export to Jira" not in done


def test_fallbacks_show_as_manual_fixes_with_links(env: Env) -> None:
    sid = env.session(
        [{"title": "Odd", "assignee": "dana@example.com", "sprint": "DEMO Sprint 1"}]
    )["id"]
    act(env, "export", session_id=sid)
    env.run()
    html = page(env, f"?session={sid}")
    key = env.status_row(sid)["tickets"][0]["jira_ticket_key"]
    assert "Manual fixes" in html
    assert "assignee invalid" in html and "sprint not found" in html
    assert html.count(f'href="{env.fake.url}/browse/{key}"') >= 3  # ticket, result, fixes


def test_failure_shows_recovery_actions_and_retry_resumes(env: Env) -> None:
    env.fake.faults.after_creates(
        1, lambda: env.fake.faults.burst(3, 503, method="POST", path=r"/issue$")
    )
    sid = env.session(THREE)["id"]
    act(env, "export", session_id=sid)
    env.run()
    html = page(env, f"?session={sid}")
    assert 'data-session-status="export_failed"' in html
    assert "Export failed at ticket 2" in html and "status-temporary" in html
    assert "<li>Wait a few minutes</li>" in html
    assert f"Retry the export with POST /api/jira/retry-failed/{sid}" in html
    assert "Retry from ticket 2" in html and "3 retries left" in html
    first_key = env.status_row(sid)["tickets"][0]["jira_ticket_key"]
    assert f'href="{env.fake.url}/browse/{first_key}"' in html  # partial results are linked

    refused = env.client.post(f"{PANEL}retry", data={"session_id": sid}, headers=JSON)
    assert refused.status_code == 403
    assert env.status_row(sid)["export_retry_count"] == 0

    env.clock.advance(3)
    retried = act(env, "retry", session_id=sid)
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["message"] == (
        "Retry 1 of 3 started: resuming from ticket 2, 1 created issues kept."
    )
    env.run()
    done = page(env, f"?session={sid}")
    assert 'data-session-status="completed"' in done and "Export failed" not in done
    assert env.status_row(sid)["tickets"][0]["jira_ticket_key"] == first_key
    assert len(env.fake.issues("DEMO")) == 3

    not_failed = act(env, "retry", session_id=sid)
    assert not_failed.status_code == 422 and not_failed.get_json()["ok"] is False
    assert "Only a failed export can be retried" in not_failed.get_json()["message"]


def test_no_retry_left_says_so_and_the_action_refuses(env: Env) -> None:
    sid = env.session(THREE)["id"]
    with env.app.app_context():
        db.session.execute(
            sa.update(ExportSession)
            .where(ExportSession.id == sid)
            .values(
                status="export_failed",
                export_retry_count=3,
                error_category="admin_required",
                error_message=f"Jira refused {HOSTILE}",
                recovery_actions=[f"Ask {HOSTILE}"],
                failed_at_ticket_order=1,
            )
        )
        db.session.commit()
    html = page(env, f"?session={sid}")
    assert "No retry left (3 of 3 used)" in html and "Retry from ticket" not in html
    assert "Jira refused &lt;img" in html and "<li>Ask &lt;img" in html
    assert "<img src=x" not in html
    answer = act(env, "retry", session_id=sid)
    assert answer.status_code == 422
    assert answer.get_json()["message"].startswith("Maximum retry attempts (3) exceeded")


def test_links_come_only_from_a_safe_site_and_a_well_formed_key(env: Env) -> None:
    sid = env.session([{"title": "A"}, {"title": "B"}])["id"]
    with env.app.app_context():
        tickets = list(db.session.scalars(sa.select(Ticket).where(Ticket.session_id == sid)))
        tickets[0].jira_ticket_key = 'DEMO-1"><script>alert(1)</script>'
        tickets[0].jira_ticket_url = "javascript:alert(1)"
        tickets[1].jira_ticket_key = "DEMO-7"
        tickets[1].jira_ticket_url = "javascript:alert(2)"
        db.session.commit()
    html = page(env, f"?session={sid}")
    assert f'href="{env.fake.url}/browse/DEMO-7"' in html  # built from settings, not stored URL
    assert "javascript:" not in html
    assert "<code>DEMO-1&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</code>" in html
    assert "<script>alert(1)" not in html

    from app import settings

    for site in ("javascript:alert(1)//x", 'https://evil.example/"onmouseover=x', "ftp://x"):
        with env.app.app_context():
            settings.set_values("jira", {"site_url": site, "api_token": "t"}, None)
        html = page(env, f"?session={sid}")
        assert "/browse/" not in html, site  # no link at all rather than an unsafe one
        assert "<code>DEMO-7</code>" in html
