"""The blackboard panel of the web console: types, agents with their health, correlations, a
cascade as a tree, the publish form (CSRF, validation), hostile text escaped."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from flask import Flask

from app.db import db
from plugins.blackboard.models import Agent
from tests.plugins.blackboard.test_http_agents import settle

PANEL = "/console/blackboard/"
JSON = {"X-Requested-With": "junction-console"}
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def page(client: Any, query: str = "") -> str:
    response = client.get(PANEL + query)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def csrf(client: Any) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page(client))
    assert match
    return match.group(1)


def publish(client: Any, **form: str) -> Any:
    return client.post(f"{PANEL}publish", data={**form, "csrf_token": csrf(client)}, headers=JSON)


def channels_of(html: str) -> list[str]:
    match = re.search(r"data-channels='([^']*)'", html)
    assert match
    return json.loads(match.group(1).replace("&#34;", '"'))


def artifact_total(client: Any) -> int:
    return int(client.get("/api/v1/artifacts").get_json()["total"])


def test_types_agents_and_an_empty_board(junction_client: Any) -> None:
    html = page(junction_client)
    assert 'data-label="Type">idea<div class="muted">An idea.</div></td>' in html
    assert 'id="agent-planner" data-kind="python"' in html
    assert "consumes idea" in html
    assert "Nothing published yet." in html
    assert '<option value="idea">idea</option>' in html
    assert channels_of(html) == ["blackboard"]


def test_publish_needs_csrf_then_the_cascade_shows_as_a_tree(junction_client: Any) -> None:
    refused = junction_client.post(
        f"{PANEL}publish", data={"type": "idea", "payload": '{"title": "x"}'}, headers=JSON
    )
    assert refused.status_code == 403
    assert artifact_total(junction_client) == 0

    answer = publish(junction_client, type="idea", payload='{"title": "dark mode"}', tags="ui, q3")
    assert answer.status_code == 200, answer.get_json()
    message = answer.get_json()["message"]
    match = re.fullmatch(r"Published idea [0-9a-f]{8} in correlation ([0-9a-f-]{36})\.", message)
    assert match, message
    cid = match.group(1)
    settle(junction_client, cid)

    listing = page(junction_client)
    assert f'href="/console/blackboard/?correlation={cid}"' in listing
    assert f'id="corr-{cid}" data-state="completed"' in listing  # no work pending any more
    assert "runs: 1 done" in listing  # the planner's consumption

    html = page(junction_client, f"?correlation={cid}")
    assert 'data-state="completed"' in html
    assert channels_of(html) == ["blackboard", f"blackboard:correlation:{cid}"]
    # idea -> planner -> plan -> reviewer -> review, each nested in the one before.
    tree = html[html.index('<ul class="cascade"') :]
    order = [
        tree.index('data-type="idea"'),
        tree.index('data-agent="planner" data-status="done"'),
        tree.index('data-type="plan" data-depth="1"'),
        tree.index('data-agent="reviewer" data-status="done"'),
        tree.index('data-type="review" data-depth="2"'),
    ]
    assert order == sorted(order)
    assert "by console" in html and "#ui #q3" in html
    # The payload as the type's schema loaded it (its default priority added), escaped JSON.
    assert "{&#34;priority&#34;: 3, &#34;title&#34;: &#34;dark mode&#34;}" in html


def test_the_cascade_joins_an_existing_correlation(junction_client: Any) -> None:
    first = publish(junction_client, type="review", payload="{}").get_json()["message"]
    cid = first.rsplit(" ", 1)[1].rstrip(".")
    joined = publish(junction_client, type="review", payload='{"n": 2}', correlation_id=cid)
    assert joined.get_json()["message"].endswith(f"in correlation {cid}.")
    html = page(junction_client, f"?correlation={cid}")
    assert html.count('data-type="review"') == 2


def test_bad_input_is_a_422_naming_the_problem_and_publishes_nothing(
    junction_client: Any,
) -> None:
    cases = [
        ({"type": "idea", "payload": "{not json"}, "The payload is not valid JSON"),
        ({"type": "idea", "payload": "[1, 2]"}, "payload: Not a valid mapping"),
        ({"type": "idea", "payload": "{}"}, "payload.title"),
        ({"type": "nope", "payload": "{}"}, "Unknown artifact type 'nope'"),
        ({"type": "<b>", "payload": "{}"}, "type:"),
        ({"type": "idea", "payload": '{"title": "t"}', "tags": "a b"}, "tags.0"),
        ({"type": "idea", "payload": '{"title": "t"}', "correlation_id": "x/../y"}, "correlation"),
        ({"type": "idea", "payload": " " * (64 * 1024 + 1)}, "longer than"),
    ]
    for form, expected in cases:
        answer = publish(junction_client, **form)
        assert answer.status_code == 422, (form, answer.get_json())
        assert answer.get_json()["ok"] is False
        assert expected in answer.get_json()["message"], (form, answer.get_json())
    assert artifact_total(junction_client) == 0


def test_agent_health_and_recent_failures(junction_app: Flask, junction_client: Any) -> None:
    created = junction_client.post(
        "/api/v1/agents",
        json={
            "name": "remote",
            "url": "http://127.0.0.1:9/agent",
            "secret": "s3cret-s3cret-s3cret",
            "subscriptions": [{"types": ["plan"]}],
        },
    )
    assert created.status_code == 201, created.get_json()
    assert 'data-circuit="closed"' in page(junction_client)
    with junction_app.app_context():
        row = db.session.get(Agent, "remote")
        assert row is not None
        row.consecutive_failures = 5
        row.circuit_open_until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        db.session.commit()
    cid = publish(junction_client, type="crash", payload="{}").get_json()["message"]
    cid = cid.rsplit(" ", 1)[1].rstrip(".")
    settle(junction_client, cid)
    html = page(junction_client)
    assert 'id="agent-remote" data-kind="http" data-circuit="open"' in html
    assert "circuit open" in html and "5 failures in a row" in html and "open until" in html
    # The agent's own entry: up to the next agent's.
    broken = html.split('id="agent-broken"', 1)[1].split('id="agent-', 1)[0]
    assert 'aria-label="Recent failures of broken"' in broken
    assert "broken agent" in broken
    assert f'href="/console/blackboard/?correlation={cid}"' in broken
    tree = page(junction_client, f"?correlation={cid}")
    assert 'data-agent="broken" data-status="failed"' in tree


def test_hostile_text_stays_text(junction_client: Any) -> None:
    registered = junction_client.post(
        "/api/v1/artifact-types",
        json={"name": "evil", "schema": {"type": "object"}, "description": HOSTILE},
    )
    assert registered.status_code == 201, registered.get_json()
    answer = publish(junction_client, type="evil", payload=json.dumps({"x": HOSTILE}))
    cid = answer.get_json()["message"].rsplit(" ", 1)[1].rstrip(".")
    for html in (
        page(junction_client),
        page(junction_client, f"?correlation={cid}"),
        page(junction_client, "?correlation=" + HOSTILE),
    ):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "No correlation with this id." in page(junction_client, "?correlation=" + HOSTILE)
