"""A blueprint chooses the status of its validation failures (``app.blueprint``).

Junction answers 422 by default; a blueprint created with ``validation_status=400`` (the planning
plugin: seed 000's error table) answers 400 for every validation failure of its requests --
schema errors, the core's guards (NUL characters, unpaired surrogates) and ``ValidationFailed``
with the default code -- and the OpenAPI document says which, per operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from app.blueprint import EXTENSION, Blueprint
from tests.fixture_plugins import strictplugin

TOKEN = "validation-status-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app with the strict (400) and the plain (422) blueprints."""
    return make_app({"JUNCTION_API_TOKENS": TOKEN}, extra_plugins=[("strictplugin", strictplugin)])


def _post(app: Flask, url: str, body: Any = None, **kwargs: Any) -> Any:
    return app.test_client().post(url, json=body, headers=AUTH, **kwargs)


@pytest.mark.parametrize(("prefix", "status"), [("/api/strict", 400), ("/api/plain", 422)])
def test_every_validation_failure_gets_the_blueprints_status(
    app: Flask, prefix: str, status: int
) -> None:
    client = app.test_client()
    failures = {
        "schema (body)": _post(app, f"{prefix}/things", {"name": "", "size": 9}),
        "schema (query)": client.get(f"{prefix}/search?q=", headers=AUTH),
        "missing body field": _post(app, f"{prefix}/things", {}),
        "wrong JSON type": _post(app, f"{prefix}/things", {"name": "x", "size": "1"}),
        "NUL in the query": client.get(f"{prefix}/search?q=a%00b", headers=AUTH),
        "NUL in the body": _post(app, f"{prefix}/things", {"name": "a\x00"}),
        "unpaired surrogate": client.post(
            f"{prefix}/things",
            data='{"name": "\\ud800"}',
            content_type="application/json",
            headers=AUTH,
        ),
        "ValidationFailed in the view": _post(app, f"{prefix}/things", {"name": "service"}),
    }
    for what, response in failures.items():
        problem = response.get_json()
        assert response.status_code == status, (what, problem)
        assert response.mimetype == "application/problem+json", what
        assert problem["status"] == status, what
        assert problem["code"] == "VALIDATION_ERROR", (what, problem)
        assert problem["errors"], (what, problem)
    # Both fields of the first body are listed in one answer.
    fields = {e["field"] for e in failures["schema (body)"].get_json()["errors"]}
    assert fields == {"name", "size"}


@pytest.mark.parametrize("prefix", ["/api/strict", "/api/plain"])
def test_a_check_with_its_own_code_keeps_its_status(app: Flask, prefix: str) -> None:
    response = _post(app, f"{prefix}/things", {"name": "domain"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "THING_UNPROCESSABLE"
    # Not validation at all: unchanged too.
    assert _post(app, f"{prefix}/things", {"name": "ok"}).status_code == 201
    malformed = app.test_client().post(
        f"{prefix}/things", data="{", content_type="application/json", headers=AUTH
    )
    assert (malformed.status_code, malformed.get_json()["code"]) == (400, "MALFORMED_JSON")


def test_the_document_states_each_operations_validation_status(app: Flask) -> None:
    document = app.test_client().get("/api/openapi.json").get_json()
    paths = document["paths"]
    for prefix, status, other in (("/api/strict", 400, "422"), ("/api/plain", 422, "400")):
        for path, method in ((f"{prefix}/things", "post"), (f"{prefix}/search", "get")):
            operation = paths[path][method]
            assert operation[EXTENSION] == status, path
            # The documented error response is the one the operation answers with.
            assert str(status) in operation["responses"], path
            assert other not in operation["responses"], path
        # Without parameters the guards still answer (a NUL in a query string): stated too.
        assert paths[f"{prefix}/ping"]["get"][EXTENSION] == status
    # The response components say what the validation statuses mean.
    responses = document["components"]["responses"]
    assert "VALIDATION_ERROR" in responses["BAD_REQUEST"]["description"]
    assert "VALIDATION_ERROR" in responses["UNPROCESSABLE_ENTITY"]["description"]


def test_planning_uses_the_seeds_400_and_the_core_keeps_422(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    client = app.test_client()
    document = client.get("/api/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":  # the path's own, not an operation
                continue
            expected = 400 if path.startswith("/api/planning/") else 422
            assert operation[EXTENSION] == expected, (method, path)
            if _takes_arguments(operation):
                assert str(expected) in operation["responses"], (method, path)
    # The seed's "missing fields": 400, with the usual problem members.
    response = client.post("/api/planning/import-cycle", json={}, headers=AUTH)
    problem = response.get_json()
    assert response.status_code == 400, problem
    assert problem["code"] == "VALIDATION_ERROR"
    assert {e["field"] for e in problem["errors"]} == {"cycle_id", "project_name"}
    # The core's own endpoints keep 422.
    response = client.post("/api/projects", json={}, headers=AUTH)
    assert response.status_code == 422
    assert response.get_json()["code"] == "VALIDATION_ERROR"


def _takes_arguments(operation: dict[str, Any]) -> bool:
    """Whether a schema of ``@blp.arguments`` parses the operation's query or JSON body."""
    body = operation.get("requestBody", {}).get("content", {})
    query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    # The webhook documents its body but reads it raw (signature first): no schema parses it.
    return query or ("application/json" in body and "security" not in operation)


def test_only_400_and_422_can_be_chosen() -> None:
    with pytest.raises(ValueError, match="validation_status"):
        Blueprint("strictplugin_bad", __name__, validation_status=418)
