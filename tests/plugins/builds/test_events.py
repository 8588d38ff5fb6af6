"""Build events over HTTP: ingest (one, batch, idempotent) and every read endpoint."""

from __future__ import annotations

import datetime as dt

from app.testing import migration_drift
from tests.plugins.builds.conftest import event

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def post(client, body, status=200):
    response = client.post("/api/builds/events", json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_single_event_is_normalised(junction_client):
    result = post(junction_client, event("Foo.Bar_baz", "1.0.0-RC1", event_id="e1"))
    assert result["accepted"] == 1
    stored = result["items"][0]["event"]
    assert (stored["name"], stored["version"]) == ("foo-bar-baz", "1.0.0rc1")
    assert stored["matched_hint_ids"] == []


def test_batch_and_idempotent_event_id(junction_client):
    body = {"events": [event(event_id="a"), event("scipy", event_id="b")]}
    first = post(junction_client, body)
    assert [i["status"] for i in first["items"]] == ["accepted", "accepted"]
    again = post(junction_client, body)
    assert [i["status"] for i in again["items"]] == ["duplicate", "duplicate"]
    assert again["items"][0]["event"]["id"] == first["items"][0]["event"]["id"]
    other = post(junction_client, [event(status="failed", event_id="a")])
    assert other["items"][0]["status"] == "conflict"
    page = junction_client.get("/api/builds/recent").get_json()
    assert page["total"] == 2


def test_invalid_events_store_nothing(junction_client):
    bad = junction_client.post(
        "/api/builds/events", json=[event(event_id="ok"), event(version="not a version")]
    )
    assert bad.status_code == 422
    assert bad.mimetype == "application/problem+json"
    assert "PEP 440" in bad.get_json()["detail"]
    assert junction_client.get("/api/builds/recent").get_json()["total"] == 0
    assert junction_client.post("/api/builds/events", json=event(name="-bad-")).status_code == 422
    assert junction_client.post("/api/builds/events", json=event(status="odd")).status_code == 422


def test_reads(junction_client):
    events = [
        event("numpy", "1.26.0", "built", run_id="r1", timestamp=at(0), duration_ms=1000),
        event("numpy", "1.26.0", "failed", run_id="r1", timestamp=at(1), duration_ms=5000),
        event("numpy", "2.0.0", "built", run_id="r2", timestamp=at(2), duration_ms=300),
        event("scipy", "1.11.0", "failed", run_id="r2", timestamp=at(3), duration_ms=9000),
        event("scipy", "1.11.0", "timeout", run_id="r2", timestamp=at(4)),
        event("lxml", "5.0", "failed", run_id="r2", timestamp=at(5), python_tag="cp311"),
    ]
    post(junction_client, {"events": events})
    c = junction_client

    recent = c.get("/api/builds/recent?limit=2").get_json()
    assert recent["total"] == 6 and [e["name"] for e in recent["items"]] == ["lxml", "scipy"]
    assert c.get("/api/builds/recent?package=NumPy&status=built").get_json()["total"] == 2

    hist = c.get(f"/api/builds/history?run_id=r2&from={at(3)}&to={at(5)}".replace("+", "%2B"))
    assert hist.status_code == 200, hist.get_json()
    assert [e["status"] for e in hist.get_json()["items"]] == ["timeout", "failed"]
    paged = c.get("/api/builds/history?limit=2&offset=4").get_json()
    assert [e["name"] for e in paged["items"]] == ["numpy", "numpy"] and paged["offset"] == 4
    assert c.get("/api/builds/history?limit=501").status_code == 422

    summary = c.get("/api/builds/summary?failure_limit=2").get_json()
    assert summary["status_counts"] == {"built": 2, "failed": 3, "timeout": 1}
    assert [f["name"] for f in summary["failures"]] == ["lxml", "scipy"]

    pkg = c.get("/api/builds/package/NUMPY").get_json()
    assert pkg["total"] == 3 and pkg["versions"] == 2 and pkg["latest"]["version"] == "2.0.0"
    assert c.get("/api/builds/package/nothing").status_code == 404

    last = c.get("/api/builds/event/numpy/v1.26.0").get_json()
    assert last["status"] == "failed"  # v1.26.0 is 1.26.0 in PEP 440 normal form
    assert c.get("/api/builds/event/numpy/9.9").status_code == 404
    assert c.get("/api/builds/event/numpy/nope!").status_code == 422

    fails = c.get("/api/builds/failures?name=scipy").get_json()
    assert [e["status"] for e in fails["items"]] == ["timeout", "failed"]
    assert c.get("/api/builds/failures").get_json()["total"] == 4

    variants = c.get("/api/builds/variants/numpy").get_json()["items"]
    by_version = {v["version"]: v for v in variants}
    assert by_version["1.26.0"]["attempts"] == 2 and by_version["1.26.0"]["failures"] == 1
    assert by_version["1.26.0"]["last_status"] == "failed"

    top = c.get("/api/builds/top-failures?limit=2").get_json()["items"]
    # Ties in reverse name order (the index is read backwards).
    assert [(t["name"], t["failures"]) for t in top] == [("scipy", 2), ("numpy", 1)]
    slow = c.get("/api/builds/top-slowest?limit=2").get_json()["items"]
    assert [s["duration_ms"] for s in slow] == [9000, 5000]


def test_duration_from_metadata(junction_client):
    post(junction_client, event(metadata={"duration_ms": 1234.5, "builder": "s390x-1"}))
    slow = junction_client.get("/api/builds/top-slowest").get_json()["items"]
    assert slow[0]["duration_ms"] == 1234 and slow[0]["metadata"]["builder"] == "s390x-1"


def test_migrations_match_models(junction_app):
    # The full-text tables are declared unmapped (their shape is per database): nothing else.
    assert migration_drift(junction_app, "builds_") == []
