"""Random requests generated from ``/api/openapi.json`` never get a 5xx or an undocumented reply.

Schemathesis reads the live OpenAPI document and sends generated requests (valid and invalid)
to every core operation through WSGI. Half of the generated path parameters are swapped for a
project and feature that exist, so the happy paths and the database are exercised too, not
only 404s. The budget per operation is small to keep the whole module well under 30 seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from flask import Flask
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err

# The core's blueprints; plugins mount theirs under their own tags (even below /api/projects).
CORE_TAGS = ["projects", "plugins"]
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]

MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]

TOKEN = "contract-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _seed(app: Flask, project_dir: Path) -> dict[str, Any]:
    """Make sure project ``demo`` with one feature and one test run exists; return their ids.

    Called before each operation because the fuzzed DELETEs and PATCHes may remove or move them.
    """
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = AUTH["Authorization"]
    if client.get("/api/projects/demo").status_code == 404:
        created = client.post("/api/projects", json={"name": "demo", "path": str(project_dir)})
        assert created.status_code == 201, created.get_json()
    features = client.get("/api/projects/demo/features").get_json()["items"]
    if not features:
        features = [client.post("/api/projects/demo/features", json={"name": "seeded"}).get_json()]
    feature_id = features[0]["id"]
    run = client.post(
        f"/api/projects/demo/features/{feature_id}/test-runs",
        json={"passed": True, "agent_type": "coding", "started_at": "2026-01-01T00:00:00Z"},
    )
    assert run.status_code == 201, run.get_json()
    return {"name": "demo", "feature_id": feature_id}


def takes_input(operation: Any) -> bool:
    """Whether the operation has anything a request could get wrong: a parameter or a body."""
    return bool(
        operation.path_parameters
        or operation.query
        or operation.headers
        or operation.cookies
        or operation.body
    )


def unsatisfiable_failure(
    operation: Any, mode: schemathesis.GenerationMode, exc: BaseException
) -> str | None:
    """``None`` when Hypothesis may find nothing to generate for ``operation`` in ``mode``.

    Only an operation without parameters and body has nothing to make invalid (negative mode
    then generates nothing); for any other, a strategy that stops generating would silently
    stop fuzzing the operation, so it is a failure.
    """
    if mode == schemathesis.GenerationMode.NEGATIVE and not takes_input(operation):
        return None
    return (
        f"{operation.label} [{mode.value}]: Hypothesis could not generate a case ({exc}); "
        "an operation with parameters or a body must stay fuzzed"
    )


def _fuzz(strategy: st.SearchStrategy[Any], seen: set[int]) -> None:
    """Send a bounded, reproducible number of generated cases and validate each response."""

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def check(case: Any) -> None:
        seen.add(case.call_and_validate(headers=AUTH, checks=CHECKS).status_code)

    check()


def all_operations(schema: BaseSchema) -> list[APIOperation]:
    """The schema's operations; an operation Schemathesis cannot read raises its error."""
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    return operations


def test_core_operations_honour_the_document(
    make_app: Callable[..., Flask], project_dir: Path
) -> None:
    """No 5xx, and every status, content type and body is the one the document declares.

    (Schemathesis' pytest integration, ``from_fixture``, does not support pytest 9, so the
    operations are driven with plain Hypothesis ``given`` here.) The WSGI transport sends no
    client address, so the app runs with a token instead of the loopback guard.
    """
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).include(tag=CORE_TAGS)
    operations = all_operations(schema)
    assert len(operations) >= 14, [op.label for op in operations]

    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        existing = _seed(app, project_dir)
        path_names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in existing.items() if k in path_names}
        for mode in MODES:
            strategy = operation.as_strategy(generation_mode=mode)
            if fixed:
                # Half the cases address rows that exist, so more than 404s get exercised.
                strategy = st.one_of(
                    strategy, operation.as_strategy(generation_mode=mode, path_parameters=fixed)
                )

            try:
                _fuzz(strategy, statuses.setdefault(operation.label, set()))
            except hypothesis.errors.Unsatisfiable as exc:
                failure = unsatisfiable_failure(operation, mode, exc)
                if failure is not None:
                    failures.append(failure)
            except Exception as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")

    assert not failures, "\n\n".join(failures)
    # The run reached the handlers, not only routing and validation errors.
    successes = {label for label, seen in statuses.items() if any(s < 300 for s in seen)}
    for label in (
        "GET /api/plugins",
        "GET /api/projects",
        "GET /api/projects/{name}",
        "GET /api/projects/{name}/features",
        "GET /api/projects/{name}/features/{feature_id}",
        "GET /api/projects/{name}/test-runs",
        "PATCH /api/projects/{name}/features/{feature_id}",
    ):
        assert label in successes, statuses
    assert any(s == 422 for seen in statuses.values() for s in seen), statuses
