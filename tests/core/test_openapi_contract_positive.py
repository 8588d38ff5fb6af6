"""The OpenAPI document is no looser than the API: data generated from it passes validation.

Schemathesis reported that ten operations "mostly rejected generated data": their schemas
left out patterns, lengths and required parameters that the API enforces. Here positive cases
generated from the live document are sent to those operations (half of them naming the project
that exists), and none may be refused for a reason the document could have stated: no
``VALIDATION_ERROR`` (but for a project path that does not exist, which no schema can say), no
``PLANNING_INVALID_ID``, no ``INVALID_FILENAME``. Refusals that depend on state stay allowed
(an unknown project: 404; Plane not configured; a MarQed tree with problems; a webhook without
the right signature; a reused Idempotency-Key). The rules that are documented as patterns but
checked elsewhere (Plane ids, release notes names, channel names) are compared with their
checks directly.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st

from app.errors import JunctionError
from app.events.routes import CHANNEL_PATTERN
from app.events.streams import parse_channels
from app.testing import FakeClock
from plugins.planning import release_notes
from plugins.planning.client import plane_id
from plugins.planning.schemas import NOTES_FILENAME_PATTERN, UUID_PATTERN
from tests.core.test_openapi_contract import all_operations
from tests.core.test_openapi_contract_all import (
    AUTH,
    TOKEN,
    _events_target,
    _planning_target,
    _read_limit,
)
from tests.fakes.plane import FakePlane

OPERATIONS = {
    "events": ["GET /api/events", "GET /api/events/stream"],
    "planning": [
        "GET /api/planning/cycles",
        "GET /api/planning/release-notes/content",
        "POST /api/planning/complete-sprint",
        "POST /api/planning/import-cycle",
        "POST /api/planning/marqed-import",
        "POST /api/planning/sync/toggle",
        "POST /api/planning/webhooks",
    ],
    "projects": ["POST /api/projects"],
}
# Refusals of data the document cannot describe (state, not shape).
STATE_CODES = {
    "NOT_FOUND",
    "PLANNING_NOT_CONFIGURED",
    "MARQED_INVALID",
    "INVALID_SIGNATURE",
    "WEBHOOK_SECRET_REQUIRED",
    "IDEMPOTENCY_KEY_REUSED",
    "CONFLICT",
    "PROJECT_EXISTS",
}
EXAMPLES = 12


def _refusal(response: Any) -> str | None:
    """Why a response refused its (schema-valid) request, when the document could have said."""
    if response.status_code < 400 or response.status_code >= 500:
        return None
    problem = response.json()
    code = problem.get("code")
    if code in STATE_CODES:
        return None
    if code == "VALIDATION_ERROR" and all(
        e["code"] == "not_a_directory" for e in problem.get("errors", [])
    ):
        return None  # the directory does not exist on this host: not a shape
    return f"{response.status_code} {code}: {problem.get('detail')}"


def _check(app: Flask, tag: str, seed: Callable[[], dict[str, Any]]) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).include(tag=tag)
    operations = {op.label: op for op in all_operations(schema)}
    refused: list[str] = []
    for label in OPERATIONS[tag]:
        operation = operations[label]
        existing = seed()
        query = {k: v for k, v in existing.items() if k in {p.name for p in operation.query}}
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)
        if query:
            strategy = st.one_of(
                strategy,
                operation.as_strategy(
                    generation_mode=schemathesis.GenerationMode.POSITIVE, query=query
                ),
            )
        sent: list[int] = []

        def send_one(case: Any, label: str = label, sent: list[int] = sent) -> None:
            response = case.call(headers=AUTH, **_read_limit(label))
            sent.append(response.status_code)
            reason = _refusal(response)
            if reason is not None:
                refused.append(f"{label}: {reason} (sent {case.query} {case.body!r})")

        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        def send(case: Any) -> None:
            send_one(case)

        send()
        assert sent, f"{label}: nothing was generated"
    assert not refused, "\n".join(refused[:20])


def test_generated_event_queries_pass_validation(make_app: Callable[..., Flask]) -> None:
    target = _events_target(make_app)
    _check(target.app, "events", target.seed)


def test_generated_planning_requests_pass_validation(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    clock = FakeClock()
    plane = FakePlane(clock=clock).start()
    try:
        target = _planning_target(make_app, plane, clock, tmp_path)
        _check(target.app, "planning", target.seed)
    finally:
        plane.release.set()
        plane.stop()


def test_generated_projects_pass_validation(make_app: Callable[..., Flask]) -> None:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    _check(app, "projects", dict)


# -- patterns documented beside the check that enforces them ---------------------------------------

PLANE_IDS = [
    str(uuid.uuid4()),
    str(uuid.uuid4()).upper(),
    "abc",
    "../../users/me",
    f"{uuid.uuid4()}\n",
    f"{uuid.uuid4()}/../",
    f"{uuid.uuid4()}/?x=1",
    "",
]


@pytest.mark.parametrize("value", PLANE_IDS)
def test_the_documented_plane_id_pattern_is_the_clients_check(value: str) -> None:
    documented = re.search(UUID_PATTERN, value) is not None
    try:
        plane_id(value)
        accepted = True
    except JunctionError:
        accepted = False
    assert documented == accepted, value


NOTE_NAMES = [
    "sprint-5.md",
    "Sprint 5 notes.md",
    "v1.0.0.md",
    "../secret.md",
    "a..b.md",
    ".hidden.md",
    "notes.txt",
    "dir/notes.md",
    "notes.md\n",
    "%2e%2e.md",
    "x" * 199 + ".md",
    "x" * 202 + ".md",
]


@pytest.mark.parametrize("name", NOTE_NAMES)
def test_the_documented_notes_name_pattern_is_the_services_check(name: str, tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    releases.mkdir()
    documented = re.search(NOTES_FILENAME_PATTERN, name) is not None
    try:
        release_notes.read_notes(str(tmp_path), name)
        accepted = True
    except JunctionError as exc:
        accepted = exc.code != "INVALID_FILENAME"  # a well-formed name of no file: 404
    # What the document allows the service accepts; the service also takes a trailing newline
    # (then finds no such file), which the document does not offer.
    assert accepted or not documented, name
    assert documented == accepted or name.endswith("\n"), name


@pytest.mark.parametrize(
    "name", ["projects", "planning:demo", "a/b@c-d_e.f", "", "a b", "x" * 256, "é", "a\n"]
)
def test_the_documented_channel_pattern_is_the_streams_check(name: str) -> None:
    documented = re.search(CHANNEL_PATTERN, name) is not None
    try:
        accepted = parse_channels([name]) == [name]
    except JunctionError:
        accepted = False
    assert documented == accepted, repr(name)
