"""Every error is an RFC 9457 problem document carrying the request's correlation id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import DataError, IntegrityError

from app.errors import PROBLEM_MIME, Conflict

REQUEST_ID = "req-1234.abc:xyz"
# Core POSTs that create something; a plugin's action POST may legitimately take no body.
CORE_CREATES = {
    "/api/projects",
    "/api/projects/{name}/features",
    "/api/projects/{name}/features/{feature_id}/test-runs",
}
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code", "correlation_id", "retryable"}


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_MIME
    body = response.get_json(force=True)
    assert set(body) >= PROBLEM_MEMBERS
    assert body["status"] == status
    assert body["correlation_id"] == response.headers["X-Request-ID"]
    if code is not None:
        assert body["code"] == code
    return body


@pytest.fixture
def failing_app(make_app) -> Flask:
    """An app with routes that fail in the ways only a bug or the database can."""
    app = make_app({"JUNCTION_MAX_CONTENT_LENGTH": 1024})

    @app.get("/api/test-boom")
    def boom() -> None:
        raise RuntimeError("secret-ish internals: password=hunter2 at /srv/app.py line 3")

    @app.get("/api/test-data-error")
    def data_error() -> None:
        raise DataError("INSERT ...", {}, Exception("value too long"))

    @app.get("/api/test-integrity-error")
    def integrity_error() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    @app.get("/api/test-conflict")
    def conflict() -> None:
        raise Conflict(
            "Busy.",
            code="IN_FLIGHT",
            retryable=True,
            headers={"Retry-After": "3"},
            error_category="temporary",
        )

    return app


def test_every_response_echoes_the_request_id(client) -> None:
    given = client.get("/api/projects", headers={"X-Request-ID": REQUEST_ID})
    assert given.headers["X-Request-ID"] == REQUEST_ID
    made = client.get("/api/projects")
    assert len(made.headers["X-Request-ID"]) >= 16
    # A malformed id is replaced rather than echoed into headers and logs.
    odd = client.get("/api/projects", headers={"X-Request-ID": "bad id\twith spaces"})
    assert odd.headers["X-Request-ID"] != "bad id\twith spaces"


def test_404_is_a_problem_with_the_correlation_id(client) -> None:
    response = client.get("/api/no-such-thing", headers={"X-Request-ID": REQUEST_ID})
    body = assert_problem(response, 404, "NOT_FOUND")
    assert body["correlation_id"] == REQUEST_ID
    assert body["type"] == "about:blank"
    assert body["retryable"] is False


def test_domain_404_names_the_missing_resource(client) -> None:
    body = assert_problem(client.get("/api/projects/ghost"), 404, "NOT_FOUND")
    assert "ghost" in body["detail"]


def test_405_lists_the_allowed_methods(client) -> None:
    response = client.put("/api/projects", json={})
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


def test_413_over_max_content_length(failing_app: Flask) -> None:
    client = failing_app.test_client()
    response = client.post("/api/projects", json={"name": "p", "path": "/" + "x" * 2000})
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


def test_415_for_a_body_that_is_not_json(client) -> None:
    response = client.post("/api/projects", data={"name": "p", "path": "/tmp"})
    body = assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "application/json" in body["detail"]


def test_400_for_malformed_json(client) -> None:
    response = client.post("/api/projects", data='{"name": "p",', content_type="application/json")
    body = assert_problem(response, 400, "MALFORMED_JSON")
    assert "not valid JSON" in body["detail"]


def test_422_lists_one_entry_per_bad_field(client, app: Flask) -> None:
    response = client.post(
        "/api/projects",
        json={"name": "no spaces please", "path": 7, "description": "ok", "colour": "red"},
    )
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    by_field = {entry["field"]: entry for entry in body["errors"]}
    assert set(by_field) == {"name", "path", "colour"}
    assert by_field["path"]["code"] == "invalid_type"
    assert by_field["colour"]["code"] == "unknown_field"
    assert all(set(entry) == {"field", "message", "code"} for entry in body["errors"])

    missing = assert_problem(client.post("/api/projects", json={}), 422)
    assert {(e["field"], e["code"]) for e in missing["errors"]} == {
        ("name", "required"),
        ("path", "required"),
    }


def test_422_for_query_parameters_names_the_parameter(client) -> None:
    body = assert_problem(client.get("/api/projects?limit=many"), 422)
    assert [e["field"] for e in body["errors"]] == ["limit"]


def test_500_has_no_stack_trace_and_logs_it_with_the_request_id(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    response = failing_app.test_client().get("/api/test-boom", headers={"X-Request-ID": REQUEST_ID})
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "hunter2", "/srv/app.py", "secret-ish"):
        assert leak not in text
    assert body["retryable"] is True
    assert body["correlation_id"] == REQUEST_ID
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged, "the failure must be logged with its traceback"


def test_database_errors_become_4xx_not_500(failing_app: Flask) -> None:
    client = failing_app.test_client()
    assert_problem(client.get("/api/test-data-error"), 422, "INVALID_VALUE")
    assert_problem(client.get("/api/test-integrity-error"), 409, "CONFLICT")


def test_domain_errors_carry_code_headers_and_extra_members(failing_app: Flask) -> None:
    response = failing_app.test_client().get("/api/test-conflict")
    body = assert_problem(response, 409, "IN_FLIGHT")
    assert body["type"] == "urn:junction:in_flight"
    assert body["retryable"] is True
    assert body["error_category"] == "temporary"
    assert response.headers["Retry-After"] == "3"


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("get", "/api/projects/a%00b", None),
        ("get", "/api/projects?limit=5&x=a%00", None),
        ("post", "/api/projects", {"name": "ok", "path": "/tmp", "description": "a\x00b"}),
        ("post", "/api/projects", {"name": "ok", "path": "/tmp", "nested": [{"k": "\x00"}]}),
    ],
)
def test_nul_characters_are_refused_before_reaching_the_database(
    client, method: str, url: str, payload: dict[str, Any] | None
) -> None:
    response = getattr(client, method)(url, json=payload)
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "nul_character"
    assert client.get("/api/projects").get_json()["total"] == 0


def test_nul_field_paths_point_at_the_value(client) -> None:
    response = client.post(
        "/api/projects", json={"name": "ok", "path": "/tmp", "x": [{"k": "\x00"}]}
    )
    assert [e["field"] for e in response.get_json()["errors"]] == ["x.0.k"]


def test_openapi_document_is_3_1_and_documents_problems(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == PROBLEM_MEMBERS - {"correlation_id"}
    assert problem.get("additionalProperties", True) is not False  # plugins add members
    responses = spec["components"]["responses"]
    for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"):
        content = responses[name]["content"]
        assert list(content) == [PROBLEM_MIME]
        assert content[PROBLEM_MIME]["schema"] == {"$ref": "#/components/schemas/Problem"}
    operation = spec["paths"]["/api/projects"]["post"]
    assert operation["responses"]["default"] == {"$ref": "#/components/responses/DEFAULT_ERROR"}
    conflict = operation["responses"]["409"]["content"]
    assert list(conflict) == [PROBLEM_MIME]


def test_every_operation_declares_its_responses_and_bodies(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "default" in responses, (method, path)
            ok = [code for code in responses if code.startswith("2")]
            assert ok, (method, path)
            for code in ok:
                if code != "204":  # a body, of whatever media type, is described
                    assert responses[code]["content"], (method, path)
            if method in {"patch", "put"} or (method == "post" and path in CORE_CREATES):
                assert "requestBody" in operation, (method, path)


def test_swagger_ui_is_served_offline_and_redoc_is_available(client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/_swagger-ui/swagger-ui-bundle.js" in html
    assert "/api/openapi.json" in html
    asset = client.get("/api/_swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.get_data()) > 100_000
    css = client.get("/api/_swagger-ui/swagger-ui.css")
    assert css.status_code == 200
    redoc = client.get("/api/redoc")
    assert redoc.status_code == 200
    assert "/api/openapi.json" in redoc.get_data(as_text=True)


def test_huge_path_ids_are_404_not_overflow(client, project_dir: Path) -> None:
    client.post("/api/projects", json={"name": "p", "path": str(project_dir)})
    for huge in ("2147483648", "99999999999999999999999"):
        assert_problem(client.get(f"/api/projects/p/features/{huge}"), 404)
        assert_problem(client.get(f"/api/projects/p/features/{huge}/test-runs"), 404)
