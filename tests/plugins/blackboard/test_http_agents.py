"""HTTP agents against a real local server: signature, answers, timeouts, failures, breaker."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from app import settings
from app.operations import runtime
from plugins.blackboard import signing
from plugins.blackboard.models import Agent
from tests.plugins.blackboard.agent_server import AgentServer
from tests.support import wait_until

SECRET = "s3cret-s3cret-s3cret"


def register(client: Any, server: AgentServer, **extra: Any) -> Any:
    """POST /api/v1/agents for ``server``."""
    body = {
        "name": "httpreviewer",
        "url": server.url,
        "secret": SECRET,
        "subscriptions": [{"types": ["plan"], "from_agents": ["planner"]}],
        **extra,
    }
    return client.post("/api/v1/agents", json=body)


def settle(client: Any, correlation_id: str) -> dict[str, Any]:
    """Wait until the correlation has no pending work; its status."""
    url = f"/api/v1/correlations/{correlation_id}/status"
    return wait_until(
        lambda: (s := client.get(url).get_json())["has_pending_work"] is False and s,
        timeout=30,
        what="the correlation to settle",
    )


def test_signature_vectors() -> None:
    body = b'{"a":1}'
    header = signing.headers("k" * 16, body, timestamp=1_700_000_000)
    value = header[signing.SIGNATURE_HEADER]
    assert value.startswith("t=1700000000,v1=")
    assert signing.verify("k" * 16, body, value, now=1_700_000_100)
    assert not signing.verify("k" * 16, body + b" ", value, now=1_700_000_100)
    assert not signing.verify("x" * 16, body, value, now=1_700_000_100)
    assert not signing.verify("k" * 16, body, value, now=1_700_000_000 + 301)  # replayed late
    assert not signing.verify("k" * 16, body, None)


def test_http_agent_is_signed_and_its_answer_published(
    junction_app: Flask, junction_client: Any
) -> None:
    with AgentServer(SECRET) as server:
        created = register(junction_client, server, labels=["qa"])
        assert created.status_code == 201, created.get_json()
        view = created.get_json()
        assert "secret" not in view and view["has_secret"] is True
        assert view["health"]["circuit"] == "closed"
        with junction_app.app_context():
            stored = junction_app.extensions["sqlalchemy"].session.get(Agent, "httpreviewer")
            assert SECRET not in stored.secret  # never in clear at rest (secret key configured)

        body = junction_client.post(
            "/api/v1/artifacts/sync", json={"type": "idea", "payload": {"title": "t"}}
        ).get_json()
        assert body["completed"] is True
        produced = sorted((a["produced_by"], a["type"]) for a in body["artifacts"])
        assert ("httpreviewer", "review") in produced and ("reviewer", "review") in produced
        assert server.rejected == 0 and server.count() == 1
        delivery = server.deliveries[0]
        assert delivery["body"]["correlation_id"] == body["correlation_id"]
        assert delivery["body"]["artifacts"][0]["type"] == "plan"
        assert delivery["delivery"]  # the consumption id, stable across retries

        listed = junction_client.get("/api/v1/agents/httpreviewer").get_json()
        assert listed["url"] == server.url and "secret" not in listed
        dup = register(junction_client, server)
        assert dup.status_code == 409
        assert junction_client.delete("/api/v1/agents/httpreviewer").status_code == 204
        assert junction_client.get("/api/v1/agents/httpreviewer").status_code == 404


def test_wrong_secret_timeout_and_failure(junction_app: Flask, junction_client: Any) -> None:
    runtime(junction_app).backoff_base = 0.05  # retries come quickly; the count is the point
    with junction_app.app_context():
        settings.set_values("blackboard", {"circuit_failure_threshold": 3})
    with AgentServer("another-secret-entirely") as server:
        assert register(junction_client, server, max_attempts=2).status_code == 201
        body = junction_client.post(
            "/api/v1/artifacts", json={"type": "idea", "payload": {"title": "t"}}
        ).get_json()
        status = settle(junction_client, body["correlation_id"])
        assert status["error_count"] == 1
        # 401 is not retried: a wrong secret does not fix itself.
        assert server.rejected == 1 and server.count() == 0
        junction_client.delete("/api/v1/agents/httpreviewer")

    with AgentServer(SECRET, mode="hang") as server:
        assert (
            register(junction_client, server, timeout_seconds=0.3, max_attempts=1).status_code
            == 201
        )
        started = time.monotonic()
        body = junction_client.post(
            "/api/v1/artifacts/sync", json={"type": "idea", "payload": {"title": "t"}}
        ).get_json()
        assert body["completed"] is True
        assert time.monotonic() - started < 10  # bounded by the agent's timeout, not the hang
        status = settle(junction_client, body["correlation_id"])
        assert status["error_count"] == 1 and server.count() == 1
        server.release.set()
        junction_client.delete("/api/v1/agents/httpreviewer")

    with AgentServer(SECRET, mode="fail") as server:
        assert register(junction_client, server, max_attempts=3).status_code == 201
        body = junction_client.post(
            "/api/v1/artifacts", json={"type": "idea", "payload": {"title": "t"}}
        ).get_json()
        status = settle(junction_client, body["correlation_id"])
        assert status["error_count"] == 1
        assert server.count() == 3  # bounded retries: three attempts, then failed
        health = junction_client.get("/api/v1/agents/httpreviewer").get_json()["health"]
        assert health["circuit"] == "open" and health["consecutive_failures"] >= 3
        # While open, no call reaches the agent.
        body = junction_client.post(
            "/api/v1/artifacts", json={"type": "idea", "payload": {"title": "t2"}}
        ).get_json()
        settle(junction_client, body["correlation_id"])
        assert server.count() == 3


def test_agent_registration_is_validated(junction_client: Any) -> None:
    bad = junction_client.post(
        "/api/v1/agents",
        json={
            "name": "x",
            "url": "ftp://example.com",
            "secret": "short",
            "subscriptions": [{"types": ["plan"], "where": {"type": 12}}],
        },
    )
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.get_json()["details"]}
    assert {"url", "secret"} <= fields
    where = junction_client.post(
        "/api/v1/agents",
        json={
            "name": "x",
            "url": "http://127.0.0.1:9/a",
            "secret": SECRET,
            "subscriptions": [{"types": ["plan"], "where": {"type": 12}}],
        },
    )
    assert where.status_code == 422
    assert where.get_json()["details"][0]["field"].startswith("subscriptions.0.where")
