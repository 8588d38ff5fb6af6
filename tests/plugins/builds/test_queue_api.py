"""The queue API over HTTP: enqueue (deduplicated), list, stats, clear, worker token."""

from __future__ import annotations

from plugins.builds.testing import ManualClock
from tests.plugins.builds.conftest import set_builds_settings

BODY = {
    "package": "NumPy",
    "version": "1.26.0",
    "python_tag": "cp312",
    "platform_tag": "manylinux_2_28_s390x",
    "recipes": {"dnf": ["openblas-devel"], "apt": []},
}


def test_enqueue_list_stats_clear(junction_app, junction_client):
    clock = ManualClock()
    junction_app.extensions["builds_clock"] = clock
    c = junction_client
    first = c.post("/api/builds/queue/enqueue", json=BODY)
    assert first.status_code == 201, first.get_json()
    item = first.get_json()["item"]
    assert (item["package"], item["recipes"]["dnf"]) == ("numpy", ["openblas-devel"])
    again = c.post("/api/builds/queue/enqueue", json={**BODY, "package": "numpy"})
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert again.get_json()["item"]["id"] == item["id"]
    assert (
        c.post("/api/builds/queue/enqueue", json={**BODY, "python_tag": "cp311"}).status_code == 201
    )

    clock.advance(90)
    stats = c.get("/api/builds/queue/stats").get_json()
    assert stats == {
        "backend": "file",
        "length": 2,
        "in_flight": 0,
        "oldest_age_seconds": 90.0,
        "supports_clear": True,
    }
    page = c.get("/api/builds/queue?limit=1&offset=1").get_json()
    assert page["total"] == 2 and page["items"][0]["python_tag"] == "cp311"

    cleared = c.post("/api/builds/queue/clear")
    assert cleared.get_json() == {"cleared": 2, "backend": "file"}
    assert c.get("/api/builds/queue/stats").get_json()["length"] == 0


def test_bad_enqueue_is_a_problem(junction_client):
    for body in [
        {**BODY, "version": "latest"},
        {**BODY, "package": "not a name"},
        {**BODY, "recipes": {"apt": ["bad name; rm -rf /"]}},
        {"version": "1.0"},
    ]:
        response = junction_client.post("/api/builds/queue/enqueue", json=body)
        assert response.status_code == 422, body
        assert response.mimetype == "application/problem+json"
    assert junction_client.get("/api/builds/queue/stats").get_json()["length"] == 0


def test_worker_token(junction_app, junction_client):
    set_builds_settings(junction_app, worker_token="s3cret-worker-token")
    c = junction_client
    refused = c.post("/api/builds/queue/enqueue", json=BODY)
    assert refused.status_code == 401
    assert "s3cret" not in refused.get_data(as_text=True)
    wrong = c.post("/api/builds/queue/enqueue", json=BODY, headers={"X-Worker-Token": "nope"})
    assert wrong.status_code == 401
    ok = c.post(
        "/api/builds/queue/enqueue", json=BODY, headers={"X-Worker-Token": "s3cret-worker-token"}
    )
    assert ok.status_code == 201
    assert c.post("/api/builds/events", json={}).status_code == 401
    # Reads stay open (the core's API authentication still applies).
    assert c.get("/api/builds/queue").status_code == 200

    # The session helper: token in the body, cookie HttpOnly + SameSite=Strict.
    assert c.post("/api/builds/session/token", json={"token": "nope"}).status_code == 401
    session = c.post("/api/builds/session/token", json={"token": "s3cret-worker-token"})
    assert session.status_code == 204
    cookie = session.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert c.post("/api/builds/queue/clear").status_code == 200  # the cookie is enough
    config = c.get("/api/builds/config").get_data(as_text=True)
    assert "s3cret" not in config


def test_session_cookie_is_secure_over_https(junction_app, junction_client):
    set_builds_settings(junction_app, worker_token="tok-tok-tok")
    response = junction_client.post(
        "/api/builds/session/token", json={"token": "tok-tok-tok"}, base_url="https://localhost"
    )
    assert response.status_code == 204
    assert "Secure" in response.headers["Set-Cookie"]


def test_session_token_without_configured_token(junction_client):
    response = junction_client.post("/api/builds/session/token", json={"token": "x"})
    assert response.status_code == 400


def test_health_and_config(junction_client):
    health = junction_client.get("/api/builds/health").get_json()
    assert health["status"] == "ok" and health["queue"]["backend"] == "file"
    config = junction_client.get("/api/builds/config").get_json()
    assert config["queue"]["backend"] == "file"
    assert config["worker"]["token_required"] is False
    assert set(config["database"]) == {"dialect", "host"}


def test_unknown_backend_is_503(junction_app, junction_client):
    set_builds_settings(junction_app, queue_backend="nosuch")
    response = junction_client.get("/api/builds/queue/stats")
    assert response.status_code == 503
    assert "nosuch" in response.get_json()["detail"]
    assert junction_client.get("/api/builds/health").status_code == 503


def test_enqueue_honours_idempotency_key(junction_client):
    headers = {"Idempotency-Key": "enqueue-numpy-1"}
    first = junction_client.post("/api/builds/queue/enqueue", json=BODY, headers=headers)
    again = junction_client.post("/api/builds/queue/enqueue", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = junction_client.post(
        "/api/builds/queue/enqueue", json={**BODY, "version": "2.0"}, headers=headers
    )
    assert other.status_code == 422
