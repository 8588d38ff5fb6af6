"""Probes, request ids and metrics, in-process (the multi-worker case is in tests/e2e)."""

from __future__ import annotations

import os
import re
import types
import uuid

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from app import create_app, request_metrics
from app.db import db
from app.hookspecs import hookimpl
from app.migrate import CORE_BASE_REVISION, MIGRATIONS_DIR, upgrade_all
from tests.conftest import BASE_OVERRIDES
from tests.support import fresh_database


def _plugin_with_checks(**checks) -> types.ModuleType:
    module = types.ModuleType("tests.core.health_plugin")
    setattr(module, "junction_health_checks", hookimpl(lambda: checks))  # noqa: B010
    return module


def _broken_upstream() -> None:
    # The message holds a token on purpose: /readyz must not show it.
    raise ConnectionError("upstream refused Authorization: Bearer s3cr3t-value")


# -- /healthz and /readyz ---------------------------------------------------------------------


def test_healthz_does_no_io_and_readyz_names_the_unreachable_database(tmp_path):
    # A database file in a folder that does not exist: every connection attempt fails.
    url = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    app = create_app({**BASE_OVERRIDES, "JUNCTION_DATABASE_URL": url}, instance_path=tmp_path)
    client = app.test_client()

    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing"
    assert "database" in body["failing"]
    assert body["checks"]["database"]["status"] == "failing"


def test_readyz_names_a_failing_plugin_check_and_redacts_it(make_app):
    app = make_app(
        extra_plugins=[
            ("sick", _plugin_with_checks(upstream=_broken_upstream, cache=lambda: "warm"))
        ]
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["sick.upstream"]
    assert body["checks"]["sick.upstream"]["status"] == "failing"
    assert "upstream refused" in body["checks"]["sick.upstream"]["detail"]
    assert "s3cr3t-value" not in response.get_data(as_text=True)
    # The others still ran and report their own state.
    assert body["checks"]["sick.cache"] == {
        "status": "ok",
        "detail": "warm",
        "duration_ms": body["checks"]["sick.cache"]["duration_ms"],
    }
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["migrations"]["status"] == "ok"


def test_readyz_is_200_when_every_plugin_check_passes(make_app):
    app = make_app(extra_plugins=[("fine", _plugin_with_checks(upstream=lambda: None))])
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"]["fine.upstream"]["status"] == "ok"


def test_readyz_fails_while_the_schema_is_behind_and_passes_after_upgrade(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app({**BASE_OVERRIDES, "JUNCTION_DATABASE_URL": url}, instance_path=tmp_path)
        client = app.test_client()
        try:
            with app.app_context():
                upgrade(directory=str(MIGRATIONS_DIR), revision=CORE_BASE_REVISION)
            response = client.get("/readyz")
            assert response.status_code == 503
            body = response.get_json()
            # Plugin checks may fail too while their tables are missing; the schema is named.
            assert "migrations" in body["failing"]
            assert body["checks"]["database"]["status"] == "ok"
            assert "db upgrade" in body["checks"]["migrations"]["detail"]

            with app.app_context():
                upgrade_all()
            assert client.get("/readyz").status_code == 200
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


# -- request ids ----------------------------------------------------------------------------------


def test_a_well_formed_request_id_is_adopted_and_echoed(client):
    rid = "client-" + uuid.uuid4().hex
    response = client.get("/api/projects", headers={"X-Request-ID": rid})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == rid


@pytest.mark.parametrize("bad", ["has spaces in it", "x" * 129, "semi;colon", "ünïcode"])
def test_a_malformed_request_id_is_replaced(client, bad):
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    echoed = response.headers["X-Request-ID"]
    assert echoed != bad
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


def test_generated_request_ids_are_distinct_and_differ_in_a_forked_worker():
    # The ids come from a generator of their own (os.urandom lets go of the GIL on every
    # request); gunicorn forks its workers from one master, so a child must not repeat its
    # parent's ids, and seeding the random module must not make them repeat either.
    import random

    from app.observability import new_request_id

    random.seed(7)
    first = new_request_id()
    random.seed(7)
    assert new_request_id() != first
    ours = {new_request_id() for _ in range(1000)}
    assert len(ours) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ours)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        os.write(write_end, " ".join(new_request_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        theirs = pipe.read().decode().split()
    os.waitpid(child, 0)
    following = [new_request_id() for _ in range(50)]
    assert len(theirs) == 50
    assert not set(theirs) & (ours | set(following))


def test_every_response_carries_a_request_id_and_problems_quote_it(client):
    generated = client.get("/api/projects/does-not-exist")
    assert generated.status_code == 404
    assert generated.get_json()["correlation_id"] == generated.headers["X-Request-ID"]

    rid = "rid-422-" + uuid.uuid4().hex[:8]
    invalid = client.post(
        "/api/projects", json={"name": "bad name!"}, headers={"X-Request-ID": rid}
    )
    assert invalid.status_code == 422
    assert invalid.mimetype == "application/problem+json"
    assert invalid.headers["X-Request-ID"] == rid
    assert invalid.get_json()["correlation_id"] == rid

    for path in ("/no/such/route", "/healthz", "/readyz", "/metrics"):
        assert client.get(path).headers["X-Request-ID"]


def test_two_requests_get_different_ids(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert first != second


# -- metrics --------------------------------------------------------------------------------------


def _count(endpoint: str, status: str, method: str = "GET") -> float:
    request_metrics.flush()
    labels = {"method": method, "endpoint": endpoint, "status": status}
    return REGISTRY.get_sample_value("junction_http_requests_total", labels) or 0.0


def _latency_count(endpoint: str, status: str, method: str = "GET") -> float:
    request_metrics.flush()
    labels = {"method": method, "endpoint": endpoint, "status": status}
    return REGISTRY.get_sample_value("junction_http_request_duration_seconds_count", labels) or 0.0


def test_metrics_count_by_route_template_and_status(client):
    template = "/api/projects/<string:name>"
    before_404, before_latency = _count(template, "404"), _latency_count(template, "404")
    before_unmatched = _count("<unmatched>", "404")

    for name in ("alpha", "beta", "gamma"):
        assert client.get(f"/api/projects/{name}").status_code == 404
    assert client.get("/nowhere/at/all").status_code == 404

    assert _count(template, "404") == before_404 + 3
    assert _latency_count(template, "404") == before_latency + 3
    assert _count("<unmatched>", "404") == before_unmatched + 1

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    assert "junction_http_requests" in families
    assert "junction_http_request_duration_seconds" in families
    endpoints = {s.labels.get("endpoint") for s in families["junction_http_requests"].samples}
    assert template in endpoints
    # Raw paths never become label values (they would explode the series count).
    assert "/api/projects/alpha" not in endpoints
    assert "/nowhere/at/all" not in endpoints


def test_metrics_and_probes_need_no_token(make_app):
    app = make_app({"JUNCTION_API_TOKENS": "t-123"})
    client = app.test_client()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/projects").status_code == 401


def test_database_stays_usable_after_probes(client):
    # /readyz opens and returns connections; the pool must not be left in a broken state.
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    with client.application.app_context():
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1
