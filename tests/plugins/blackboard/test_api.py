"""The blackboard over HTTP: types, validation, publish, filters, sync, status, errors."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from flask import Flask

from app import settings
from tests.plugins.blackboard import fixture_plugin
from tests.support import wait_until

IDEA = {"type": "idea", "payload": {"title": "dark mode"}}


def sync(client: Any, body: dict[str, Any], **kwargs: Any) -> Any:
    """POST /api/v1/artifacts/sync."""
    return client.post("/api/v1/artifacts/sync", json=body, **kwargs)


def test_runtime_type_is_checked_and_validates_payloads(junction_client: Any) -> None:
    bad = junction_client.post(
        "/api/v1/artifact-types",
        json={"name": "ticket", "schema": {"type": "object", "required": "title"}},
    )
    assert bad.status_code == 422
    problem = bad.get_json()
    assert problem["code"] == "VALIDATION_ERROR"
    assert problem["details"] and problem["details"][0]["field"].startswith("schema")
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "points": {"type": "integer"}},
        "required": ["title", "owner"],
    }
    created = junction_client.post(
        "/api/v1/artifact-types", json={"name": "ticket", "schema": schema}
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["version"] == 1
    again = junction_client.post(
        "/api/v1/artifact-types", json={"name": "ticket", "schema": schema}
    )
    assert again.get_json()["version"] == 2
    assert junction_client.get("/api/v1/artifact-types/ticket").get_json()["version"] == 2
    names = [t["name"] for t in junction_client.get("/api/v1/artifact-types").get_json()["types"]]
    assert "idea" in names and names.count("ticket") == 2

    invalid = junction_client.post(
        "/api/v1/artifacts", json={"type": "ticket", "payload": {"points": "many"}}
    )
    assert invalid.status_code == 422
    body = invalid.get_json()
    assert invalid.headers["Content-Type"] == "application/problem+json"
    fields = sorted(e["field"] for e in body["details"])
    assert fields == ["payload.owner", "payload.points", "payload.title"]
    assert body["details"] == body["errors"]
    assert body["message"] == body["detail"]
    assert body["retryable"] is False
    listed = junction_client.get("/api/v1/artifacts").get_json()
    assert listed["total"] == 0  # nothing stored


def test_marshmallow_type_errors_one_entry_per_field(junction_client: Any) -> None:
    response = junction_client.post(
        "/api/v1/artifacts", json={"type": "idea", "payload": {"priority": 9}}
    )
    assert response.status_code == 422
    details = response.get_json()["details"]
    assert sorted(d["field"] for d in details) == ["payload.priority", "payload.title"]
    unknown = junction_client.post("/api/v1/artifacts", json={"type": "nope", "payload": {}})
    assert unknown.status_code == 422
    assert unknown.get_json()["details"][0]["code"] == "unknown_type"


def test_publish_list_filters_get_summary(junction_app: Flask, junction_client: Any) -> None:
    published = junction_client.post(
        "/api/v1/artifacts",
        json={**IDEA, "tags": ["ui", "p1"], "partition_key": "team-a"},
    )
    assert published.status_code == 202
    body = published.get_json()
    assert body["status"] == "accepted"
    artifact = body["artifact"]
    assert artifact["correlation_id"] == body["correlation_id"]
    assert artifact["payload"] == {"title": "dark mode", "priority": 3}
    uuid.UUID(artifact["id"])

    status = wait_until(
        lambda: (
            (
                s := junction_client.get(
                    f"/api/v1/correlations/{body['correlation_id']}/status"
                ).get_json()
            )["state"]
            == "completed"
            and s
        ),
        what="the cascade to finish",
    )
    assert status["artifact_count"] == 3 and status["error_count"] == 0
    assert status["has_pending_work"] is False

    def items(query: str) -> list[dict[str, Any]]:
        response = junction_client.get(f"/api/v1/artifacts?{query}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]

    assert [a["type"] for a in items(f"correlation_id={body['correlation_id']}")] == [
        "idea",
        "plan",
        "review",
    ]
    assert [a["type"] for a in items("type=plan&type=review")] == ["plan", "review"]
    assert [a["produced_by"] for a in items("produced_by=planner")] == ["planner"]
    assert [a["type"] for a in items("tag=ui")] == ["idea"]
    assert [a["type"] for a in items("tag=planned")] == ["plan"]
    assert items("tag=u_") == []  # LIKE wildcards are literal
    assert items("from=2999-01-01T00:00:00Z") == []
    assert len(items("to=2999-01-01T00:00:00Z")) == 3
    assert len(items("visibility=public")) == 3 and items("visibility=private") == []
    page = junction_client.get("/api/v1/artifacts?limit=2&offset=1").get_json()
    assert page["pagination"] == {"limit": 2, "offset": 1, "total": 3}
    assert [a["type"] for a in page["items"]] == ["plan", "review"]

    one = junction_client.get(f"/api/v1/artifacts/{artifact['id']}")
    assert one.status_code == 200 and one.get_json()["id"] == artifact["id"]
    missing = junction_client.get(f"/api/v1/artifacts/{uuid.uuid4()}")
    assert missing.status_code == 404
    problem = missing.get_json()
    assert problem["code"] == "NOT_FOUND" and "artifact not found" in problem["message"]
    assert problem["details"] == []

    summary = junction_client.get("/api/v1/artifacts/summary").get_json()["summary"]
    assert summary["total"] == 3
    assert summary["by_type"] == {"idea": 1, "plan": 1, "review": 1}
    assert summary["by_producer"] == {"external": 1, "planner": 1, "reviewer": 1}
    filtered = junction_client.get("/api/v1/artifacts/summary?produced_by=planner").get_json()
    assert filtered["summary"]["by_type"] == {"plan": 1}

    bad = junction_client.get("/api/v1/artifacts?limit=0&visibility=secret")
    assert bad.status_code == 422
    assert {d["field"] for d in bad.get_json()["details"]} >= {"limit"}


def test_sync_returns_its_cascade_with_filters(junction_client: Any) -> None:
    response = sync(junction_client, {**IDEA, "timeout": 30})
    assert response.status_code == 200
    body = response.get_json()
    assert body["completed"] is True and body["duration_ms"] > 0
    assert [a["type"] for a in body["artifacts"]] == ["idea", "plan", "review"]
    assert {a["correlation_id"] for a in body["artifacts"]} == {body["correlation_id"]}
    assert fixture_plugin.CALLS == {"planner": 1, "reviewer": 1}

    only_reviews = sync(junction_client, {**IDEA, "filters": {"type_names": ["review"]}})
    assert [a["type"] for a in only_reviews.get_json()["artifacts"]] == ["review"]
    by_planner = sync(junction_client, {**IDEA, "filters": {"produced_by": ["planner"]}})
    assert [a["produced_by"] for a in by_planner.get_json()["artifacts"]] == ["planner"]


def test_sync_without_consumers_and_server_correlation(junction_client: Any) -> None:
    response = sync(junction_client, {"type": "review", "payload": {"x": 1}})
    body = response.get_json()
    assert body["completed"] is True and len(body["artifacts"]) == 1
    # The client cannot choose the correlation: the seed's model has no such field.
    mine = sync(junction_client, {**IDEA, "correlation_id": "mine"})
    assert mine.status_code == 422
    assert mine.get_json()["code"] == "VALIDATION_ERROR"
    for timeout in (0.5, 301):
        bad = sync(junction_client, {**IDEA, "timeout": timeout})
        assert bad.status_code == 422 and bad.get_json()["details"][0]["field"] == "timeout"
    missing = sync(junction_client, {"payload": {}})
    assert missing.get_json()["details"][0] == {
        "field": "type",
        "message": "Missing data for required field.",
        "code": "required",
    }


def test_sync_timeout_answers_200_incomplete_and_cascade_carries_on(
    junction_client: Any,
) -> None:
    response = sync(junction_client, {"type": "slow_task", "payload": {}, "timeout": 1})
    assert response.status_code == 200
    body = response.get_json()
    assert body["completed"] is False
    assert [a["type"] for a in body["artifacts"]] == ["slow_task"]
    status_url = f"/api/v1/correlations/{body['correlation_id']}/status"
    status = junction_client.get(status_url).get_json()
    assert status["state"] == "active" and status["has_pending_work"] is True
    fixture_plugin.RELEASE.set()
    done = wait_until(
        lambda: junction_client.get(status_url).get_json()["state"] == "completed",
        what="the slow cascade to finish after the sync answered",
    )
    assert done
    assert junction_client.get(status_url).get_json()["artifact_count"] == 2


def test_two_concurrent_syncs_do_not_wait_for_each_other(junction_app: Flask) -> None:
    results: dict[str, Any] = {}

    def slow() -> None:
        client = junction_app.test_client()
        results["slow"] = sync(client, {"type": "slow_task", "payload": {}, "timeout": 60})

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        assert fixture_plugin.ENTERED.wait(30), "the slow agent never started"
        fast = sync(junction_app.test_client(), {**IDEA, "timeout": 30})
        # The fast correlation finished while the slow one is still running.
        assert fast.get_json()["completed"] is True
        assert "slow" not in results
        assert [a["type"] for a in fast.get_json()["artifacts"]] == ["idea", "plan", "review"]
    finally:
        fixture_plugin.RELEASE.set()
        thread.join(60)
    assert results["slow"].get_json()["completed"] is True


def test_visibility_is_enforced(junction_client: Any) -> None:
    def note(visibility: dict[str, Any] | None, level: int = 1) -> int:
        before = fixture_plugin.CALLS["secret_reader"]
        body: dict[str, Any] = {"type": "secret_note", "payload": {"level": level}}
        if visibility is not None:
            body["visibility"] = visibility
        published = junction_client.post("/api/v1/artifacts", json=body)
        assert published.status_code == 202, published.get_json()
        status_url = f"/api/v1/correlations/{published.get_json()['correlation_id']}/status"
        wait_until(
            lambda: junction_client.get(status_url).get_json()["state"] == "completed",
            what="the note's cascade",
        )
        return fixture_plugin.CALLS["secret_reader"] - before

    assert note(None) == 1
    assert note(None, level=0) == 0  # the subscription's predicate
    assert note({"kind": "private", "agents": ["planner"]}) == 0
    assert note({"kind": "private", "agents": ["secret_reader"]}) == 1
    assert note({"kind": "labelled", "labels": ["clearance"]}) == 1
    assert note({"kind": "labelled", "labels": ["clearance", "top"]}) == 0
    assert note({"kind": "tenant", "tenant_id": "acme"}) == 1
    assert note({"kind": "tenant", "tenant_id": "other"}) == 0
    # The sync request is the seed's model: no visibility member.
    bad = sync(junction_client, {"type": "secret_note", "payload": {}, "visibility": {}})
    assert bad.status_code == 422
    missing = junction_client.post(
        "/api/v1/artifacts",
        json={"type": "secret_note", "payload": {}, "visibility": {"kind": "private"}},
    )
    assert missing.status_code == 422
    assert missing.get_json()["details"][0]["field"] == "visibility.agents"


def test_runaway_cascade_stops_at_the_limits(junction_app: Flask, junction_client: Any) -> None:
    with junction_app.app_context():
        settings.set_values("blackboard", {"max_depth": 4})
    body = sync(junction_client, {"type": "ping", "payload": {"n": 0}}).get_json()
    assert body["completed"] is True
    assert max(a["depth"] for a in body["artifacts"]) == 4
    status = junction_client.get(f"/api/v1/correlations/{body['correlation_id']}/status").get_json()
    assert status["state"] == "failed"
    assert "max_depth 4" in status["error"]
    assert status["has_pending_work"] is False

    with junction_app.app_context():
        settings.set_values("blackboard", {"max_depth": 100, "max_artifacts_per_correlation": 6})
    body = sync(junction_client, {"type": "ping", "payload": {"n": 0}}).get_json()
    assert len(body["artifacts"]) == 6
    status = junction_client.get(f"/api/v1/correlations/{body['correlation_id']}/status").get_json()
    assert status["state"] == "failed" and "max_artifacts_per_correlation 6" in status["error"]


def test_failing_agent_is_counted(junction_client: Any) -> None:
    body = sync(junction_client, {"type": "crash", "payload": {}}).get_json()
    assert body["completed"] is True
    status = junction_client.get(f"/api/v1/correlations/{body['correlation_id']}/status").get_json()
    assert status["error_count"] == 1 and status["state"] == "completed"
    assert fixture_plugin.CALLS["broken"] == 1  # a raising Python agent is not retried
    unknown = junction_client.get(f"/api/v1/correlations/{uuid.uuid4()}/status").get_json()
    assert unknown["state"] == "not_found"


def test_idempotent_publish_and_sync(junction_client: Any) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = junction_client.post("/api/v1/artifacts", json=IDEA, headers=key)
    again = junction_client.post("/api/v1/artifacts", json=IDEA, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = junction_client.post(
        "/api/v1/artifacts", json={**IDEA, "payload": {"title": "x"}}, headers=key
    )
    assert other.status_code == 422
    problem = other.get_json()
    assert problem["code"] == "IDEMPOTENCY_CONFLICT"
    assert problem["reason"] == "IDEMPOTENCY_KEY_REUSED" and problem["message"]

    legacy = {"X-Idempotency-Key": str(uuid.uuid4())}
    one = sync(junction_client, IDEA, headers=legacy)
    two = sync(junction_client, IDEA, headers=legacy)
    assert two.headers["Idempotent-Replayed"] == "true"
    assert one.get_json() == two.get_json()
    ideas = junction_client.get("/api/v1/artifacts?type=idea").get_json()["total"]
    assert ideas == 2  # one per key, however often each was sent
    assert fixture_plugin.CALLS["planner"] == 2


def test_agents_list_get_run_history(junction_client: Any) -> None:
    agents = junction_client.get("/api/v1/agents").get_json()["agents"]
    planner = next(a for a in agents if a["name"] == "planner")
    assert planner["kind"] == "python" and planner["subscriptions"][0]["types"] == ["idea"]
    assert junction_client.get("/api/v1/agents/nobody").status_code == 404
    assert junction_client.delete("/api/v1/agents/planner").status_code == 409

    published = junction_client.post(
        "/api/v1/artifacts", json={"type": "plan", "payload": {"title": "from a plan"}}
    ).get_json()["artifact"]
    run = junction_client.post(
        "/api/v1/agents/planner/run",
        json={"artifact_ids": [published["id"]], "inputs": [IDEA]},
    )
    assert run.status_code == 200, run.get_json()
    body = run.get_json()
    assert body["completed"] is True
    assert [r["status"] for r in body["runs"]] == ["done", "done"]
    assert [a["type"] for a in body["artifacts"]] == ["plan", "plan"]
    private = junction_client.post(
        "/api/v1/artifacts",
        json={**IDEA, "visibility": {"kind": "private", "agents": ["reviewer"]}},
    ).get_json()["artifact"]
    refused = junction_client.post(
        "/api/v1/agents/planner/run", json={"artifact_ids": [private["id"]]}
    )
    assert refused.status_code == 403

    history = junction_client.get("/api/v1/agents/planner/history-summary").get_json()
    assert history["agent_id"] == "planner"
    assert history["summary"]["produced"]["by_type"]["plan"] >= 2
    assert history["summary"]["consumed"]["total"] >= 2
