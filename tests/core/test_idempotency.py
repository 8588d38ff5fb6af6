"""Idempotency-Key: replay, mismatch, in-flight conflicts, key syntax, scoping, expiry, cleanup."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from typing import Any

import marshmallow as ma
import pytest
import sqlalchemy as sa
from flask import Response
from flask_smorest import Blueprint

from app import idempotency
from app.db import db
from app.domain.models import Project
from app.hookspecs import hookimpl
from app.idempotency import IdempotencyKey, IdempotencyPolicy, idempotent

# -- a test plugin with endpoints that count their executions -----------------------------------

CALLS: Counter[str] = Counter()
CALLS_LOCK = threading.Lock()


class Gate:
    """Holds the slow endpoint until the test lets it go (no sleeps)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


GATE = Gate()

blp = Blueprint("idemtest", __name__, url_prefix="/api/idemtest")


class ThingSchema(ma.Schema):
    name = ma.fields.String(required=True)


def _count(name: str) -> int:
    with CALLS_LOCK:
        CALLS[name] += 1
        return CALLS[name]


@blp.post("/things")
@idempotent
@blp.arguments(ThingSchema)
@blp.response(201, ThingSchema)
def create_thing(data: dict[str, Any]) -> Any:
    """Counts executions."""
    _count("things")
    return data, 201, {"Location": f"/api/idemtest/things/{data['name']}"}


@blp.post("/other-things")
@idempotent
@blp.arguments(ThingSchema)
@blp.response(201, ThingSchema)
def create_other_thing(data: dict[str, Any]) -> Any:
    """Another endpoint, to show keys are scoped per endpoint."""
    _count("other")
    return data


@blp.post("/slow")
@idempotent
@blp.response(200, ThingSchema)
def slow() -> Any:
    """Waits for the test's signal."""
    _count("slow")
    GATE.entered.set()
    assert GATE.release.wait(10), "the test never released the slow request"
    return {"name": "slow"}


@blp.post("/boom")
@idempotent
@blp.response(201, ThingSchema)
def boom() -> Any:
    """Fails with an unexpected error (500)."""
    _count("boom")
    raise RuntimeError("boom")


@blp.post("/boom-stored")
@idempotent(store_server_errors=True)
@blp.response(201, ThingSchema)
def boom_stored() -> Any:
    """Fails with a 500 that is kept (Stripe v1 behaviour)."""
    _count("boom-stored")
    raise RuntimeError("boom")


@blp.post("/cookies")
@idempotent
@blp.response(200, ThingSchema)
def cookies() -> Response:
    """Answers with headers that must not all be replayed."""
    n = _count("cookies")
    response = Response(json.dumps({"name": f"n{n}"}), status=200, mimetype="application/json")
    response.headers["Location"] = "/api/idemtest/things/x"
    response.headers["ETag"] = '"v1"'
    response.set_cookie("session", f"secret-{n}")
    response.headers["X-Custom"] = "not-replayed"
    return response


class IdemTestPlugin:
    @hookimpl
    def junction_blueprints(self, app: Any) -> list[Any]:
        return [blp]


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    GATE.entered.clear()
    GATE.release.clear()


class FakeClock:
    """An injectable clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def app(make_app):
    return make_app(extra_plugins=[("idemtest", IdemTestPlugin())])


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def clock(app) -> FakeClock:
    fake = FakeClock()
    app.extensions["junction"].service(IdempotencyPolicy).clock = fake
    return fake


def post(client, path: str, body: Any, key: str | None = None, **headers: str):
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(path, json=body, headers=headers)


def count_projects(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count(Project.id))).scalar_one()


def count_keys(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count(IdempotencyKey.id))).scalar_one()


# -- replay -------------------------------------------------------------------------------------


def test_same_key_same_request_is_replayed_and_executed_once(app, client, project_dir):
    body = {"name": "alpha", "path": str(project_dir)}
    first = post(client, "/api/projects", body, "key-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    second = post(client, "/api/projects", body, "key-1")
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_data() == first.get_data()
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert count_projects(app) == 1


def test_header_forms_and_body_formatting_name_the_same_request(app, client, project_dir):
    body = {"name": "alpha", "path": str(project_dir), "description": "d"}
    assert post(client, "/api/projects", body, "abc-123").status_code == 201
    # The structured-field (quoted) form and the X- header carry the same key.
    quoted = post(client, "/api/projects", body, '"abc-123"')
    legacy = client.post("/api/projects", json=body, headers={"X-Idempotency-Key": "abc-123"})
    # The same JSON document with other key order and whitespace is the same request.
    reformatted = client.post(
        "/api/projects",
        data=json.dumps(dict(reversed(list(body.items()))), indent=4),
        content_type="application/json",
        headers={"Idempotency-Key": "abc-123"},
    )
    for response in (quoted, legacy, reformatted):
        assert response.status_code == 201
        assert response.headers["Idempotent-Replayed"] == "true"
    assert count_projects(app) == 1


def test_only_safe_headers_are_replayed(app, client):
    first = client.post("/api/idemtest/cookies", headers={"Idempotency-Key": "c1"})
    assert first.status_code == 200
    assert "secret-1" in first.headers["Set-Cookie"]
    again = client.post("/api/idemtest/cookies", headers={"Idempotency-Key": "c1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == {"name": "n1"}
    assert again.headers["Location"] == "/api/idemtest/things/x"
    assert again.headers["ETag"] == '"v1"'
    assert "Set-Cookie" not in again.headers
    assert "X-Custom" not in again.headers
    assert CALLS["cookies"] == 1


def test_without_a_key_every_request_executes(app, client):
    for _ in range(2):
        assert post(client, "/api/idemtest/things", {"name": "a"}).status_code == 201
    assert CALLS["things"] == 2
    assert count_keys(app) == 0


# -- mismatch and conflicts ---------------------------------------------------------------------


def test_same_key_different_request_is_422(app, client, project_dir):
    assert (
        post(client, "/api/projects", {"name": "a", "path": str(project_dir)}, "k").status_code
        == 201
    )
    response = post(client, "/api/projects", {"name": "b", "path": str(project_dir)}, "k")
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert problem["retryable"] is False
    assert response.mimetype == "application/problem+json"
    assert count_projects(app) == 1


def test_same_endpoint_other_path_is_a_different_request(app, client, project_dir):
    for name in ("a", "b"):
        post(client, "/api/projects", {"name": name, "path": str(project_dir)})
    feature = {"name": "f1"}
    assert post(client, "/api/projects/a/features", feature, "fk").status_code == 201
    assert post(client, "/api/projects/b/features", feature, "fk").status_code == 422


def test_in_flight_duplicate_gets_409_then_the_result(app, client):
    results: dict[str, Any] = {}

    def first() -> None:
        results["first"] = app.test_client().post(
            "/api/idemtest/slow", headers={"Idempotency-Key": "slow-1"}
        )

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert GATE.entered.wait(10), "the first request never started"
        conflict = client.post("/api/idemtest/slow", headers={"Idempotency-Key": "slow-1"})
        assert conflict.status_code == 409
        problem = conflict.get_json()
        assert problem["code"] == "IDEMPOTENCY_IN_FLIGHT"
        assert problem["retryable"] is True
        assert int(conflict.headers["Retry-After"]) >= 1
    finally:
        GATE.release.set()
        thread.join(10)
    assert results["first"].status_code == 200
    replay = client.post("/api/idemtest/slow", headers={"Idempotency-Key": "slow-1"})
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == {"name": "slow"}
    assert CALLS["slow"] == 1


def test_a_different_request_is_422_even_while_in_flight(app, client):
    thread = threading.Thread(
        target=lambda: app.test_client().post(
            "/api/idemtest/slow", headers={"Idempotency-Key": "slow-2"}
        )
    )
    thread.start()
    try:
        assert GATE.entered.wait(10)
        other = post(client, "/api/idemtest/slow", {"x": 1}, "slow-2")
        assert other.status_code == 422
    finally:
        GATE.release.set()
        thread.join(10)


# -- key syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "x" * 256,  # too long
        '"' + "x" * 256 + '"',  # too long, quoted
        '""',  # empty
        "two words",  # space in the bare form
        "caf\u00e9",  # not ASCII
        '"unterminated',
        '"a";param=1',  # structured-field parameters are not accepted
        '"bad\\escape"',
        "a\tb",
    ],
)
def test_malformed_key_is_400(app, client, raw):
    response = client.post(
        "/api/idemtest/things", json={"name": "a"}, headers={"Idempotency-Key": raw}
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "IDEMPOTENCY_KEY_INVALID"
    assert CALLS["things"] == 0


def test_disagreeing_headers_are_400(app, client):
    response = client.post(
        "/api/idemtest/things",
        json={"name": "a"},
        headers={"Idempotency-Key": "one", "X-Idempotency-Key": "two"},
    )
    assert response.status_code == 400
    assert CALLS["things"] == 0


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("x" * 255, "x" * 255),
        ('"with spaces and \\"quotes\\""', 'with spaces and "quotes"'),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
    ],
)
def test_parse_key_accepts(raw, key):
    assert idempotency.parse_key(raw) == key


def test_longest_key_is_stored(app, client):
    assert post(client, "/api/idemtest/things", {"name": "a"}, "k" * 255).status_code == 201
    again = post(client, "/api/idemtest/things", {"name": "a"}, "k" * 255)
    assert again.headers["Idempotent-Replayed"] == "true"


# -- scoping ------------------------------------------------------------------------------------


def test_keys_are_scoped_per_token(make_app):
    app = make_app(
        {"JUNCTION_API_TOKENS": "token-one,token-two"},
        extra_plugins=[("idemtest", IdemTestPlugin())],
    )
    client = app.test_client()

    def send(token: str):
        return client.post(
            "/api/idemtest/things",
            json={"name": "a"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "shared"},
        )

    one, two = send("token-one"), send("token-two")
    assert one.status_code == two.status_code == 201
    assert "Idempotent-Replayed" not in one.headers
    assert "Idempotent-Replayed" not in two.headers
    assert CALLS["things"] == 2
    assert send("token-one").headers["Idempotent-Replayed"] == "true"
    assert CALLS["things"] == 2


def test_keys_are_scoped_per_endpoint(app, client):
    assert post(client, "/api/idemtest/things", {"name": "a"}, "same").status_code == 201
    other = post(client, "/api/idemtest/other-things", {"name": "a"}, "same")
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert (CALLS["things"], CALLS["other"]) == (1, 1)


# -- what is stored -----------------------------------------------------------------------------


def test_validation_failures_release_the_key(app, client, project_dir):
    # Rejected by the request schema (webargs): nothing executed, the key is free again.
    missing = post(client, "/api/projects", {"name": "alpha"}, "v1")
    assert missing.status_code == 422
    # Rejected by the service's validation (not a directory): free again too.
    bad_path = post(client, "/api/projects", {"name": "alpha", "path": "/no/such/dir"}, "v1")
    assert bad_path.status_code == 422
    assert bad_path.get_json()["code"] == "VALIDATION_ERROR"
    fixed = post(client, "/api/projects", {"name": "alpha", "path": str(project_dir)}, "v1")
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers
    assert count_projects(app) == 1


def test_other_client_errors_are_stored_and_replayed(app, client, project_dir):
    body = {"name": "taken", "path": str(project_dir)}
    assert post(client, "/api/projects", body).status_code == 201
    first = post(client, "/api/projects", body, "dup")
    assert first.status_code == 409
    assert first.get_json()["code"] == "PROJECT_EXISTS"
    again = post(client, "/api/projects", body, "dup")
    assert again.status_code == 409
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["code"] == "PROJECT_EXISTS"


def test_server_errors_release_the_key_by_default(app, client):
    assert client.post("/api/idemtest/boom", headers={"Idempotency-Key": "b"}).status_code == 500
    retry = client.post("/api/idemtest/boom", headers={"Idempotency-Key": "b"})
    assert retry.status_code == 500
    assert "Idempotent-Replayed" not in retry.headers
    assert CALLS["boom"] == 2
    assert count_keys(app) == 0


def test_server_errors_can_be_stored_per_endpoint(app, client):
    first = client.post("/api/idemtest/boom-stored", headers={"Idempotency-Key": "b"})
    assert first.status_code == 500
    retry = client.post("/api/idemtest/boom-stored", headers={"Idempotency-Key": "b"})
    assert retry.status_code == 500
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["correlation_id"] == first.get_json()["correlation_id"]
    assert CALLS["boom-stored"] == 1


# -- expiry, locks and cleanup ------------------------------------------------------------------


def test_key_expires_after_the_ttl(make_app):
    app = make_app(
        {"JUNCTION_IDEMPOTENCY_TTL": 3600}, extra_plugins=[("idemtest", IdemTestPlugin())]
    )
    clock = FakeClock()
    app.extensions["junction"].service(IdempotencyPolicy).clock = clock
    client = app.test_client()

    assert post(client, "/api/idemtest/things", {"name": "a"}, "ttl").status_code == 201
    clock.advance(3599)
    assert (
        post(client, "/api/idemtest/things", {"name": "a"}, "ttl").headers["Idempotent-Replayed"]
        == "true"
    )
    assert post(client, "/api/idemtest/things", {"name": "b"}, "ttl").status_code == 422
    clock.advance(2)
    # Past retention the key is new: another request executes (no 422, no replay).
    fresh = post(client, "/api/idemtest/things", {"name": "b"}, "ttl")
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers
    assert CALLS["things"] == 2
    assert count_keys(app) == 1


def test_in_flight_lock_of_a_dead_worker_expires(app, client, clock):
    # A worker claimed the key and died: the row is in flight with a lock nobody will release.
    fingerprint = idempotency.request_fingerprint(
        "POST", "/api/idemtest/things", [], json.dumps({"name": "a"}).encode()
    )
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.insert(IdempotencyKey.__table__).values(
                scope="loopback",
                endpoint="idemtest.create_thing",
                key="orphan",
                fingerprint=fingerprint,
                state="in_flight",
                lock_token="dead-worker",
                locked_until=clock.now + dt.timedelta(seconds=60),
                created_at=clock.now,
                expires_at=clock.now + dt.timedelta(days=1),
            )
        )
    assert post(client, "/api/idemtest/things", {"name": "a"}, "orphan").status_code == 409
    clock.advance(59)
    assert post(client, "/api/idemtest/things", {"name": "a"}, "orphan").status_code == 409
    assert CALLS["things"] == 0
    clock.advance(2)
    taken = post(client, "/api/idemtest/things", {"name": "a"}, "orphan")
    assert taken.status_code == 201
    assert "Idempotent-Replayed" not in taken.headers
    replay = post(client, "/api/idemtest/things", {"name": "a"}, "orphan")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert CALLS["things"] == 1


def test_cleanup_deletes_expired_keys_only(app, client, clock):
    ttl = dt.timedelta(seconds=app.config["JUNCTION_IDEMPOTENCY_TTL"])
    start = clock.now
    for key in ("old-1", "old-2"):
        assert post(client, "/api/idemtest/things", {"name": key}, key).status_code == 201
    clock.advance(3600)
    assert post(client, "/api/idemtest/things", {"name": "new"}, "new").status_code == 201
    assert count_keys(app) == 3

    with app.app_context():
        assert idempotency.cleanup_expired(start + ttl - dt.timedelta(seconds=1)) == 0
        assert idempotency.cleanup_expired(start + ttl + dt.timedelta(seconds=1)) == 2
        remaining = db.session.scalars(sa.select(IdempotencyKey.key)).all()
    assert remaining == ["new"]
    # Run with the policy's clock, as the scheduled job does.
    clock.advance(ttl.total_seconds())
    with app.app_context():
        assert idempotency.cleanup_expired() == 1
    assert count_keys(app) == 0


def test_cleanup_is_a_scheduled_core_job(app):
    from app import scheduler

    jobs = {job.id: job for job in scheduler.core_jobs()}
    assert "idempotency.cleanup" in jobs
    assert jobs["idempotency.cleanup"].func is idempotency.cleanup_expired


# -- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_documents_the_header_on_decorated_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    create = spec["paths"]["/api/projects"]["post"]
    names = [p["name"] for p in create.get("parameters", []) if p["in"] == "header"]
    assert names == ["Idempotency-Key"]
    assert {"400", "409", "422"} <= set(create["responses"])
    assert "Idempotent-Replayed" in create["responses"]["201"]["headers"]
    for path in (
        "/api/projects/{name}/features",
        "/api/projects/{name}/features/{feature_id}/test-runs",
    ):
        assert any(
            p["name"] == "Idempotency-Key" for p in spec["paths"][path]["post"]["parameters"]
        )
    listing = spec["paths"]["/api/projects"]["get"]
    assert all(p["name"] != "Idempotency-Key" for p in listing.get("parameters", []))
