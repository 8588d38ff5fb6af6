"""Every operation of ``/api/openapi.json`` keeps its contract under random requests.

``test_openapi_contract.py`` fuzzes the core's ``projects`` and ``plugins`` tags; this module
fuzzes every other tag of the live document -- durable operations, the event log and its SSE
stream, the planning plugin (configured against a :class:`~tests.fakes.plane.FakePlane`, so its
success paths call a real HTTP server) and the example ``hello`` plugin -- and fails when the
document grows a tag nobody fuzzes. For each response: no 5xx, the status is documented (a
success status explicitly, an error status explicitly or by the ``default`` problem document),
the content type is the documented one and the body validates against the documented schema.

Generated cases (positive and negative) are mixed with cases that address rows and projects
that exist, and each tag adds a few hand-written requests that must succeed, so the handlers and
the database are reached, not only routing and validation. Schemathesis' pytest integration does
not support pytest 9, so the operations are driven with plain Hypothesis ``given``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app import events, operations
from app.http.ratelimit import MemoryLimiter
from app.operations import service as operation_service
from app.testing import FakeClock
from plugins.jira.client import JiraClient, build_http
from tests.core.test_openapi_contract import CORE_TAGS, all_operations, unsatisfiable_failure
from tests.fakes.jira import FakeJira
from tests.fakes.jira.demo import seed_demo
from tests.fakes.marqed_tree import make_tree
from tests.fakes.plane import FakePlane
from tests.fixture_plugins import opsplugin
from tests.plugins.planning.conftest import install_client_factory, make_repo

TOKEN = "contract-all-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
MAX_EXAMPLES = 6
WEBHOOK_SECRET = "plane_wh_" + "c" * 32
# An SSE stream never ends: the app beats often and the client stops reading after a moment.
STREAM_READ_SECONDS = 0.2
FUZZED_TAGS = [
    "operations",
    "events",
    "planning",
    "hello",
    "blackboard",
    "jira",
    "builds",
    "agents_tasks",
    "agents_runs",
    "agents_metrics",
    "agents_projects",
]
# Tags whose blueprint chose another validation status than 422 (app.blueprint).
VALIDATION_STATUSES = {"planning": 400}


def success_status_documented(ctx: Any, response: Any, case: Any) -> None:
    """A success status must be listed by the operation itself.

    The ``default`` response documents problem documents (errors) only, so schemathesis'
    ``status_code_conformance`` alone would accept any undeclared 2xx or 3xx.
    """
    if response.status_code < 400:
        declared = case.operation.definition.raw.get("responses", {})
        assert str(response.status_code) in declared, (
            f"{case.operation.label} answered {response.status_code}, "
            f"which it does not declare (declared: {sorted(declared)})"
        )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    success_status_documented,
    content_type_conformance,
    response_schema_conformance,
]


Explicit = list[dict[str, Any]] | Callable[[], list[dict[str, Any]]]


@dataclass
class Target:
    """How to fuzz one tag: its app, what exists, and requests that must succeed."""

    app: Flask
    # Called before each operation (fuzzed writes may delete or change what it made); returns
    # the values that address existing things, by parameter name (path or query).
    seed: Callable[[], dict[str, Any]]
    # Hand-written requests by operation label, or a callable making them (after its own
    # setup). Each is ``operation.Case`` keywords plus ``expect`` (the status it must get) and
    # optionally ``raw`` and ``headers`` (a body sent byte for byte, e.g. a signed webhook).
    explicit: dict[str, Explicit] = field(default_factory=dict)
    # Operations whose every answer must be a client error (unsigned webhooks).
    client_errors_only: set[str] = field(default_factory=set)
    # Operations that must have answered a success at least once.
    must_succeed: set[str] = field(default_factory=set)


def _client(app: Flask) -> Any:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = AUTH["Authorization"]
    return client


# -- targets ---------------------------------------------------------------------------------------


def _operations_target(make_app: Callable[..., Flask]) -> Target:
    # The test plugin brings an operation kind to submit (its handler never runs here).
    app = make_app({"JUNCTION_API_TOKENS": TOKEN}, extra_plugins=[("opsplugin", opsplugin)])

    def seed() -> dict[str, Any]:
        with app.app_context():
            pending = operation_service.submit(opsplugin.KIND, {"count": 0}, project="demo")
            cancelled = operation_service.submit(opsplugin.KIND, {"count": 0})
            operation_service.cancel_operation(cancelled.id, reason="seeded")
            return {"operation_id": pending.id, "_cancelled": cancelled.id}

    def explicit_cancel() -> list[dict[str, Any]]:
        ids = seed()
        return [
            {
                "path_parameters": {"operation_id": ids["operation_id"]},
                "body": {"reason": "x"},
                "expect": 200,
            },
            # Cancelling a cancelled operation again is a no-op.
            {"path_parameters": {"operation_id": ids["_cancelled"]}, "expect": 200},
        ]

    def explicit_retry() -> list[dict[str, Any]]:
        ids = seed()
        return [
            {"path_parameters": {"operation_id": ids["_cancelled"]}, "body": {}, "expect": 200},
            {"path_parameters": {"operation_id": ids["operation_id"]}, "expect": 409},
        ]

    return Target(
        app,
        seed,
        explicit={
            "GET /api/operations": [
                {"query": {"status": "pending", "project": "demo"}, "expect": 200}
            ],
            "GET /api/operations/{operation_id}": [
                {"path_parameters": {"operation_id": "no-such-operation"}, "expect": 404}
            ],
            "POST /api/operations/{operation_id}/cancel": explicit_cancel,
            "POST /api/operations/{operation_id}/retry": explicit_retry,
        },
        must_succeed={
            "GET /api/operations",
            "GET /api/operations/{operation_id}",
            "POST /api/operations/{operation_id}/cancel",
            "POST /api/operations/{operation_id}/retry",
        },
    )


def _events_target(make_app: Callable[..., Flask]) -> Target:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = STREAM_READ_SECONDS / 4

    def seed() -> dict[str, Any]:
        with app.app_context():
            events.publish("contract", "contract.seeded", {"n": 1}, project="demo")
        return {}

    return Target(
        app,
        seed,
        explicit={
            "GET /api/events": [{"query": {"channel": ["contract"], "after": 0}, "expect": 200}],
            "GET /api/events/stream": [
                {"query": {"channel": ["contract"], "last_event_id": 0}, "expect": 200},
                {
                    "query": {"channel": ["contract"]},
                    "headers": {"Origin": "http://evil.example"},
                    "expect": 403,
                },
            ],
        },
        must_succeed={"GET /api/events", "GET /api/events/stream"},
    )


def _hello_target(make_app: Callable[..., Flask]) -> Target:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    client = _client(app)

    def seed() -> dict[str, Any]:
        created = client.post("/api/hello/greetings", json={"name": "contract"})
        assert created.status_code == 201, created.get_json()
        return {"greeting_id": created.get_json()["id"]}

    return Target(
        app,
        seed,
        explicit={
            "POST /api/hello/greetings": [
                {"body": {"name": "Ada", "message": "hi"}, "expect": 201}
            ],
            "GET /api/hello/greetings/{greeting_id}": [
                {"path_parameters": {"greeting_id": 2**31 - 1}, "expect": 404}
            ],
        },
        must_succeed={
            "GET /api/hello/greetings",
            "POST /api/hello/greetings",
            "GET /api/hello/greetings/{greeting_id}",
        },
    )


def _blackboard_target(make_app: Callable[..., Flask]) -> Target:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    client = _client(app)
    schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    note = {"type": "note", "payload": {"text": "hi"}}

    def seed() -> dict[str, Any]:
        if client.get("/api/v1/artifact-types/note").status_code == 404:
            client.post("/api/v1/artifact-types", json={"name": "note", "schema": schema})
        if client.get("/api/v1/agents/watcher").status_code == 404:
            # Subscribed to a type nobody publishes: fuzzing never calls it.
            client.post(
                "/api/v1/agents",
                json={
                    "name": "watcher",
                    "url": "http://127.0.0.1:9/agent",
                    "secret": "w" * 16,
                    "subscriptions": [{"types": ["never"]}],
                },
            )
        artifact = client.post("/api/v1/artifacts", json=note).get_json()["artifact"]
        return {
            "artifact_id": artifact["id"],
            "correlation_id": artifact["correlation_id"],
            "name": "watcher",
        }

    return Target(
        app,
        seed,
        explicit={
            "POST /api/v1/artifacts/sync": [{"body": {**note, "timeout": 1}, "expect": 200}],
            "POST /api/v1/artifacts": [{"body": note, "expect": 202}],
            "POST /api/v1/artifact-types": [
                {"body": {"name": "other", "schema": schema}, "expect": 201}
            ],
            "POST /api/v1/agents/{name}/run": [
                {"path_parameters": {"name": "watcher"}, "body": {"timeout": 1}, "expect": 200}
            ],
        },
        must_succeed={
            "GET /api/v1/artifacts",
            "POST /api/v1/artifacts",
            "POST /api/v1/artifacts/sync",
            "GET /api/v1/artifacts/summary",
            "GET /api/v1/artifacts/{artifact_id}",
            "GET /api/v1/artifact-types",
            "POST /api/v1/artifact-types",
            "GET /api/v1/agents",
            "GET /api/v1/agents/{name}",
            "GET /api/v1/correlations/{correlation_id}/status",
        },
    )


def _jira_target(make_app: Callable[..., Flask], fake: FakeJira, clock: FakeClock) -> Target:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    operations.runtime(app).runner_threads = 0  # exports submitted here never run
    options = {"clock": clock, "sleep": clock.sleep, "limiter": MemoryLimiter()}
    app.extensions["jira"] = {
        "client_factory": lambda cfg: JiraClient(cfg, build_http(cfg, **options)),
        "sleep": clock.sleep,
        "clock": clock,
    }
    client = _client(app)
    settings = {"site_url": fake.url, "email": fake.email, "api_token": fake.token}
    assert client.post("/api/jira/config", json=settings).status_code == 200

    def seed() -> dict[str, Any]:
        clock.advance(5)  # the status endpoint's 1 request per 2 s
        made = client.post("/api/jira/sessions", json={"name": "contract"})
        assert made.status_code == 201, made.get_json()
        sid = made.get_json()["id"]
        ticket = client.post(f"/api/jira/sessions/{sid}/tickets", json={"title": "T"})
        return {"session_id": sid, "ticket_id": ticket.get_json()["id"]}

    def explicit_export() -> list[dict[str, Any]]:
        sid = seed()["session_id"]
        body = {"jira_project_key": "DEMO"}
        assert client.patch(f"/api/jira/sessions/{sid}", json=body).status_code == 200
        return [{"path_parameters": {"session_id": sid}, "expect": 202}]

    return Target(
        app,
        seed,
        explicit={
            "POST /api/jira/adf-preview": [{"body": {"html": "<p>x</p>"}, "expect": 200}],
            "POST /api/jira/validate-project": [{"body": {"project_key": "DEMO"}, "expect": 200}],
            "POST /api/jira/export-session/{session_id}": explicit_export,
        },
        must_succeed={
            "GET /api/jira/sessions",
            "POST /api/jira/sessions",
            "GET /api/jira/sessions/{session_id}",
            "POST /api/jira/adf-preview",
            "POST /api/jira/validate-project",
            "POST /api/jira/export-session/{session_id}",
        },
    )


def _planning_target(
    make_app: Callable[..., Flask], plane: FakePlane, clock: FakeClock, tmp: Path
) -> Target:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    # No runner threads: operations submitted by the routes run when the seed steps them, so no
    # background work outlives the test; ``wait=0`` answers 202 at once.
    operations.runtime(app).runner_threads = 0
    install_client_factory(
        app,
        {
            "clock": clock,
            "sleep": clock.sleep,
            "limiter": MemoryLimiter(),
            "timeout": (1.0, 2.0),
            "max_elapsed": 30.0,
        },
    )
    client = _client(app)
    plane_project = plane.add_project()
    repo = make_repo(tmp / "planning-checkout", ["initial commit"])
    releases = repo / "releases"
    releases.mkdir()
    (releases / "v1.0.0.md").write_text("# v1.0.0\n\n- first\n")
    cycle = plane.add_cycle(plane_project, "Sprint 1", *_cycle_dates(days_from_start=-3, length=7))
    plane.add_to_cycle(
        cycle,
        plane.add_issue(
            plane_project, "Contract item", state=plane.state_id(plane_project, "unstarted")
        ),
    )

    def seed() -> dict[str, Any]:
        if client.get("/api/projects/demo").status_code == 404:
            created = client.post("/api/projects", json={"name": "demo", "path": str(repo)})
            assert created.status_code == 201, created.get_json()
        # Fuzzed POST /config may have changed anything: put the working configuration back.
        for body in (
            {
                "planning_api_url": plane.url,
                "planning_api_key": plane.api_key,
                "planning_workspace_slug": plane.workspace,
                "planning_webhook_secret": WEBHOOK_SECRET,
            },
            {
                "project_name": "demo",
                "planning_project_id": plane_project,
                "planning_active_cycle_id": cycle,
            },
        ):
            response = client.post("/api/planning/config", json=body)
            assert response.status_code == 200, response.get_json()
        with app.app_context():
            operations.run_pending()
        return {"project_name": "demo"}

    payload = plane.webhook_payload(
        "issue", "updated", {"id": "00000000-0000-0000-0000-000000000000", "name": "x"}
    )
    signed = json.dumps(payload).encode()
    tree = tmp / "marqed"
    make_tree(tree, epics=1, features=1, stories=1, tasks=1)
    demo = {"project_name": "demo"}

    def explicit_sprint() -> list[dict[str, Any]]:
        """First the Definition of Done fails (200, success false); once every linked feature
        passes, the completion runs as an operation (202 with ``wait=0``)."""
        seed()
        imported = client.post("/api/planning/import-cycle", json={**demo, "cycle_id": cycle})
        assert imported.status_code == 200, imported.get_json()
        request = {"body": {**demo, "cycle_id": cycle}, "query": {"wait": 0}}

        def all_pass() -> None:
            for feature in client.get("/api/projects/demo/features").get_json()["items"]:
                patched = client.patch(
                    f"/api/projects/demo/features/{feature['id']}", json={"passes": True}
                )
                assert patched.status_code == 200, patched.get_json()

        return [{**request, "expect": 200}, {**request, "before": all_pass, "expect": 202}]

    return Target(
        app,
        seed,
        explicit={
            "GET /api/planning/config": [{"query": demo, "expect": 200}, {"expect": 200}],
            "POST /api/planning/config": [
                {"body": {**demo, "planning_sync_enabled": False}, "expect": 200}
            ],
            "POST /api/planning/test-connection": [{"query": demo, "expect": 200}],
            "GET /api/planning/cycles": [{"query": demo, "expect": 200}],
            "POST /api/planning/import-cycle": [
                {"body": {**demo, "cycle_id": cycle}, "expect": 200},
                {"body": {"project_name": "no-such-project", "cycle_id": cycle}, "expect": 404},
            ],
            "POST /api/planning/complete-sprint": explicit_sprint,
            "GET /api/planning/test-report": [
                {"query": {**demo, "all_features": True}, "expect": 200}
            ],
            "GET /api/planning/test-history": [{"query": demo, "expect": 200}],
            "GET /api/planning/release-notes": [{"query": demo, "expect": 200}],
            "GET /api/planning/release-notes/content": [
                {"query": {**demo, "filename": "v1.0.0.md"}, "expect": 200},
                {"query": {**demo, "filename": "../secret.md"}, "expect": 400},
            ],
            "POST /api/planning/self-host-setup": [{"expect": 200}],
            "POST /api/planning/marqed-import": [
                {"body": {**demo, "marqed_dir": str(tree)}, "query": {"wait": 0}, "expect": 202}
            ],
            "GET /api/planning/sync-status": [{"query": demo, "expect": 200}],
            "POST /api/planning/sync/toggle": [{"query": demo, "expect": 200}],
            "POST /api/planning/webhooks": [
                {
                    "raw": signed,
                    "headers": {
                        "Content-Type": "application/json",
                        "X-Plane-Signature": FakePlane.sign(signed, WEBHOOK_SECRET),
                    },
                    "expect": 200,
                },
                {
                    "raw": signed,
                    "headers": {"Content-Type": "application/json", "X-Plane-Signature": "0" * 64},
                    "expect": 403,
                },
            ],
        },
        # Generated webhook deliveries carry no valid signature.
        client_errors_only={"POST /api/planning/webhooks"},
        must_succeed={
            "GET /api/planning/config",
            "POST /api/planning/config",
            "POST /api/planning/test-connection",
            "GET /api/planning/cycles",
            "POST /api/planning/marqed-import",
            "POST /api/planning/self-host-setup",
            "POST /api/planning/import-cycle",
            "POST /api/planning/complete-sprint",
            "GET /api/planning/test-report",
            "GET /api/planning/test-history",
            "GET /api/planning/release-notes",
            "GET /api/planning/release-notes/content",
            "GET /api/planning/sync-status",
            "POST /api/planning/sync/toggle",
            "POST /api/planning/webhooks",
        },
    )


def _builds_target(make_app: Callable[..., Flask]) -> Target:
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    app.config["JUNCTION_EVENTS_HEARTBEAT_SECONDS"] = STREAM_READ_SECONDS / 4
    client = _client(app)
    name, version = "demo-pkg", "1.0"
    node = {"name": name, "version": version, "action": "build"}
    hint = {"pattern": "error: (\\w+) failed", "recipes": {"dnf": ["gcc"]}, "note": "n"}

    def seed() -> dict[str, Any]:
        posted = [
            client.post(
                "/api/builds/events",
                json={"name": name, "version": version, "status": "failed", "duration_ms": 5},
            ),
            client.post(
                "/api/builds/logs",
                json={"name": name, "version": version, "content": "error: gcc failed"},
            ),
            client.post("/api/builds/hints", json=hint),
            client.post("/api/builds/plan", json={"plan": [node]}),
            client.post(
                "/api/builds/manifest",
                json={
                    "run_id": "r",
                    "entries": [
                        {"name": name, "version": version, "status": "built", "wheel": "w/x.whl"}
                    ],
                },
            ),
        ]
        assert all(r.status_code < 300 for r in posted), [r.get_json() for r in posted]
        return {"name": name, "version": version, "hint_id": posted[2].get_json()["id"]}

    enqueue = {"package": name, "version": "2.0", "recipes": {"apt": ["gcc"]}}
    return Target(
        app,
        seed,
        explicit={
            "GET /api/builds/history": [
                {"query": {"package": name, "status": "failed", "limit": 5}, "expect": 200}
            ],
            "GET /api/builds/package/{name}": [
                {"path_parameters": {"name": "no-such-package"}, "expect": 404}
            ],
            "POST /api/builds/hints": [
                {"body": hint, "expect": 201},
                {"body": {**hint, "pattern": "(a+)+$"}, "expect": 422},
            ],
            "GET /api/builds/logs/search": [{"query": {"q": "gcc"}, "expect": 200}],
            "POST /api/builds/logs": [
                {"body": {"name": name, "version": version, "content": "ok"}, "expect": 201}
            ],
            "POST /api/builds/logs/stream/{name}/{version}": [
                {
                    "path_parameters": {"name": name, "version": version},
                    "raw": b"line one\nline two",
                    "headers": {"Content-Type": "text/plain"},
                    "expect": 200,
                }
            ],
            "GET /api/builds/logs/stream/{name}/{version}": [
                {"path_parameters": {"name": name, "version": version}, "expect": 200}
            ],
            "POST /api/builds/queue/enqueue": [{"body": enqueue, "expect": 201}],
            "POST /api/builds/worker/trigger": [{"expect": 202}],
            "POST /api/builds/session/token": [{"body": {"token": "x"}, "expect": 400}],
        },
        must_succeed={
            "GET /api/builds/health",
            "GET /api/builds/config",
            "POST /api/builds/events",
            "GET /api/builds/summary",
            "GET /api/builds/recent",
            "GET /api/builds/history",
            "GET /api/builds/package/{name}",
            "GET /api/builds/event/{name}/{version}",
            "GET /api/builds/failures",
            "GET /api/builds/variants/{name}",
            "GET /api/builds/top-failures",
            "GET /api/builds/top-slowest",
            "GET /api/builds/hints",
            "POST /api/builds/hints",
            "PUT /api/builds/hints/{hint_id}",
            "DELETE /api/builds/hints/{hint_id}",
            "POST /api/builds/logs",
            "GET /api/builds/logs/search",
            "GET /api/builds/logs/{name}/{version}",
            "POST /api/builds/logs/stream/{name}/{version}",
            "GET /api/builds/logs/stream/{name}/{version}",
            "GET /api/builds/plan",
            "POST /api/builds/plan",
            "GET /api/builds/manifest",
            "POST /api/builds/manifest",
            "GET /api/builds/artifacts",
            "GET /api/builds/queue",
            "GET /api/builds/queue/stats",
            "POST /api/builds/queue/enqueue",
            "POST /api/builds/queue/clear",
            "POST /api/builds/worker/trigger",
            "POST /api/builds/worker/smoke",
        },
    )


def _agents_target(make_app: Callable[..., Flask], tag: str) -> Target:
    from app import operations as ops

    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    client = _client(app)

    def seed() -> dict[str, Any]:
        task = client.post("/api/tasks/", json={"name": "contract", "config": {"steps": 1}})
        assert task.status_code == 201, task.get_json()
        task_id = task.get_json()["id"]
        done = client.post("/api/runs/", json={"task_id": task_id}).get_json()["id"]
        waiting = client.post("/api/runs/", json={"task_id": task_id}).get_json()["id"]
        with app.app_context():
            ops.run_pending()
        client.post(f"/api/runs/{done}/approve", json={"approved": True})
        with app.app_context():
            ops.run_pending()
        metric = client.get("/api/metrics/", query_string={"run_id": done}).get_json()
        return {
            "task_id": task_id,
            "run_id": waiting,
            "metric_id": metric["items"][0]["id"],
            "_done": done,
        }

    def explicit_approve() -> list[dict[str, Any]]:
        ids = seed()
        return [
            {
                "path_parameters": {"run_id": ids["run_id"]},
                "body": {"approved": True},
                "expect": 200,
            },
            {
                "path_parameters": {"run_id": ids["run_id"]},
                "body": {"approved": True},
                "expect": 409,
            },
        ]

    def explicit_cancel() -> list[dict[str, Any]]:
        ids = seed()
        return [
            {
                "path_parameters": {"run_id": ids["run_id"]},
                "body": {"status": "cancelled"},
                "expect": 200,
            },
            {
                "path_parameters": {"run_id": ids["_done"]},
                "body": {"status": "cancelled"},
                "expect": 409,
            },
        ]

    def explicit_delete_run() -> list[dict[str, Any]]:
        ids = seed()
        return [
            {"path_parameters": {"run_id": ids["run_id"]}, "expect": 409},
            {"path_parameters": {"run_id": ids["_done"]}, "expect": 204},
        ]

    return Target(
        app,
        seed,
        explicit={
            "POST /api/tasks/": [{"body": {"name": "x", "team": "echo"}, "expect": 201}],
            "PATCH /api/tasks/{task_id}": lambda: [
                {
                    "path_parameters": {"task_id": seed()["task_id"]},
                    "body": {"name": "y"},
                    "expect": 200,
                }
            ],
            "DELETE /api/tasks/{task_id}": lambda: [
                {"path_parameters": {"task_id": seed()["task_id"]}, "expect": 409}
            ],
            "POST /api/runs/": lambda: [{"body": {"task_id": seed()["task_id"]}, "expect": 201}],
            "POST /api/runs/{run_id}/approve": explicit_approve,
            "PATCH /api/runs/{run_id}": explicit_cancel,
            "DELETE /api/runs/{run_id}": explicit_delete_run,
            "GET /api/runs/": [{"query": {"skip": 0, "limit": 5}, "expect": 200}],
        },
        must_succeed={
            label
            for label in (
                "GET /api/tasks/",
                "POST /api/tasks/",
                "GET /api/tasks/teams",
                "GET /api/tasks/{task_id}",
                "PATCH /api/tasks/{task_id}",
                "GET /api/runs/",
                "POST /api/runs/",
                "GET /api/runs/{run_id}",
                "PATCH /api/runs/{run_id}",
                "DELETE /api/runs/{run_id}",
                "POST /api/runs/{run_id}/approve",
                "GET /api/runs/{run_id}/logs",
                "GET /api/metrics/",
                "GET /api/metrics/{metric_id}",
                "GET /api/metrics/task/{task_id}/summary",
                "GET /api/metrics/run/{run_id}/summary",
            )
            if label.split(" ")[1].startswith("/api/" + tag.removeprefix("agents_"))
        },
    )


def _agent_process_target(make_app: Callable[..., Flask], tmp: Path) -> Target:
    # No runner runs here (scheduler off): start only records the request and its operation.
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    client = _client(app)
    checkout = tmp / "agent-checkout"
    checkout.mkdir(exist_ok=True)
    created = client.post("/api/projects", json={"name": "demo", "path": str(checkout)})
    assert created.status_code == 201, created.get_json()

    def seed() -> dict[str, Any]:
        client.post("/api/projects/demo/agent/stop")
        return {"project_name": "demo"}

    demo = {"project_name": "demo"}
    return Target(
        app,
        seed,
        explicit={
            "POST /api/projects/{project_name}/agent/start": [
                {"path_parameters": demo, "expect": 200},
                {"path_parameters": demo, "expect": 409},
            ],
            "POST /api/projects/{project_name}/agent/soft-stop": [
                {"path_parameters": demo, "expect": 409},
                {
                    "path_parameters": demo,
                    "before": lambda: client.post("/api/projects/demo/agent/start"),
                    "expect": 200,
                },
            ],
            "POST /api/projects/{project_name}/agent/stop": [
                {"path_parameters": demo, "expect": 200},
                {"path_parameters": {"project_name": "ghost"}, "expect": 404},
            ],
            "GET /api/projects/{project_name}/agent/status": [
                {"path_parameters": demo, "query": {"lines": 5}, "expect": 200},
                {"path_parameters": demo, "query": {"lines": 101}, "expect": 422},
            ],
        },
        must_succeed={
            "POST /api/projects/{project_name}/agent/start",
            "POST /api/projects/{project_name}/agent/soft-stop",
            "POST /api/projects/{project_name}/agent/stop",
            "GET /api/projects/{project_name}/agent/status",
        },
    )


def _cycle_dates(days_from_start: int, length: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_from_start)
    return start, start + dt.timedelta(days=length)


# -- the fuzzing -----------------------------------------------------------------------------------


def _fuzz(strategy: st.SearchStrategy[Any], send: Callable[[Any], int]) -> None:
    """Send a bounded, reproducible number of generated cases through ``send``."""

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def check(case: Any) -> None:
        send(case)

    check()


def _read_limit(label: str) -> dict[str, Any]:
    """Stop reading an event stream after a moment (it never ends)."""
    streams = label.endswith("/stream") or label.startswith("GET /api/builds/logs/stream/")
    return {"timeout": STREAM_READ_SECONDS} if streams else {}


def _run(target: Target, tag: str) -> dict[str, set[int]]:
    """Fuzz every operation of ``tag`` on ``target``; return the statuses seen per operation."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", target.app).include(tag=tag)
    found = all_operations(schema)
    assert found, f"no operation tagged {tag!r}"
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}

    for operation in found:
        seen = statuses.setdefault(operation.label, set())

        def send(case: Any, label: str = operation.label, seen: set[int] = seen) -> int:
            response = case.call_and_validate(headers=AUTH, checks=CHECKS, **_read_limit(label))
            if label in target.client_errors_only:
                assert 400 <= response.status_code < 500, (label, response.status_code)
            seen.add(response.status_code)
            return response.status_code

        existing = target.seed()
        path_names = {p.name for p in operation.path_parameters}
        query_names = {p.name for p in operation.query}
        fixed_path = {k: v for k, v in existing.items() if k in path_names}
        fixed_query = {k: v for k, v in existing.items() if k in query_names}
        for mode in MODES:
            strategy = operation.as_strategy(generation_mode=mode)
            if fixed_path or fixed_query:
                # Half the cases address things that exist, so more than 404s get exercised.
                strategy = st.one_of(
                    strategy,
                    operation.as_strategy(
                        generation_mode=mode,
                        path_parameters=fixed_path or None,
                        query=fixed_query or None,
                    ),
                )
            try:
                _fuzz(strategy, send)
            except hypothesis.errors.Unsatisfiable as exc:
                failure = unsatisfiable_failure(operation, mode, exc)
                if failure is not None:
                    failures.append(failure)
            except Exception as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")

        explicit = target.explicit.get(operation.label, [])
        if callable(explicit):
            explicit = explicit()
        else:
            target.seed()
        for request in explicit:
            request = dict(request)
            expect, before = request.pop("expect"), request.pop("before", None)
            raw, headers = request.pop("raw", None), request.pop("headers", {})
            if before is not None:
                before()
            case = operation.Case(**request)
            try:
                if raw is not None or headers:
                    kwargs = {"data": raw} if raw is not None else {}
                    response = case.call_and_validate(
                        headers={**AUTH, **headers},
                        checks=CHECKS,
                        **_read_limit(operation.label),
                        **kwargs,
                    )
                    status = response.status_code
                    seen.add(status)
                else:
                    status = send(case)
                assert status == expect, f"expected {expect}, got {status}"
            except Exception as exc:
                failures.append(f"{operation.label} [explicit {request}]: {exc}")

    assert not failures, "\n\n".join(failures)
    successes = {label for label, seen in statuses.items() if any(s < 300 for s in seen)}
    assert target.must_succeed <= successes, statuses
    return statuses


@pytest.fixture
def plane() -> Iterator[tuple[FakePlane, FakeClock]]:
    """A running fake Plane on a fake clock."""
    clock = FakeClock()
    fake = FakePlane(clock=clock).start()
    yield fake, clock
    fake.release.set()
    fake.stop()


def test_every_tag_of_the_document_is_fuzzed(make_app: Callable[..., Flask]) -> None:
    """A new tag (a new plugin, a new core blueprint) must be added to one of the two modules."""
    app = make_app()
    document = app.test_client().get("/api/openapi.json").get_json()
    tags = {
        tag
        for item in document["paths"].values()
        for key, operation in item.items()
        if key in {"get", "put", "post", "patch", "delete", "head", "options"}
        for tag in operation.get("tags", [])
    }
    assert tags == set(CORE_TAGS) | set(FUZZED_TAGS)


@pytest.mark.parametrize("tag", FUZZED_TAGS)
def test_operations_honour_the_document(
    tag: str,
    make_app: Callable[..., Flask],
    plane: tuple[FakePlane, FakeClock],
    tmp_path: Path,
) -> None:
    """No 5xx; every status, content type and body is the one the document declares."""
    if tag == "operations":
        target = _operations_target(make_app)
    elif tag == "events":
        target = _events_target(make_app)
    elif tag == "hello":
        target = _hello_target(make_app)
    elif tag == "jira":
        fake = FakeJira(clock=plane[1])
        seed_demo(fake)
        fake.start()
        try:
            target = _jira_target(make_app, fake, plane[1])
            statuses = _run(target, tag)
        finally:
            events.get_hub(target.app).shutdown()
            fake.stop()
        assert any(s == 422 for seen in statuses.values() for s in seen), statuses
        return
    elif tag == "blackboard":
        target = _blackboard_target(make_app)
    elif tag == "agents_projects":
        target = _agent_process_target(make_app, tmp_path)
    elif tag.startswith("agents_"):
        target = _agents_target(make_app, tag)
    elif tag == "builds":
        target = _builds_target(make_app)
    else:
        target = _planning_target(make_app, *plane, tmp_path)
    try:
        statuses = _run(target, tag)
    finally:
        events.get_hub(target.app).shutdown()  # ends streams a failing case left open
    # Validation failures were reached, with the tag's validation status (planning: the seed's
    # 400; the rest: 422).
    validation_status = VALIDATION_STATUSES.get(tag, 422)
    assert any(s == validation_status for seen in statuses.values() for s in seen), statuses


def test_unpaired_surrogates_in_json_get_the_validation_status_of_every_operation_with_a_body(
    make_app: Callable[..., Flask],
) -> None:
    """``"\\ud800"`` is valid JSON syntax that no UTF-8 encoder accepts (drivers, logs).

    Hypothesis generates valid Unicode only, so this is sent by hand to every operation of the
    document that takes a JSON body: each answers its validation status (422; planning's 400)
    before its handler runs (it was a 500).
    """
    app = make_app({"JUNCTION_API_TOKENS": TOKEN})
    client = _client(app)
    document = client.get("/api/openapi.json").get_json()
    tried = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = (
                operation.get("requestBody", {}).get("content", {})
                if method != "parameters"
                else {}
            )
            if "application/json" not in content:
                continue
            url = path.replace("{name}", "demo").replace("{feature_id}", "1")
            url = url.replace("{operation_id}", "x").replace("{greeting_id}", "1")
            url = url.replace("{hint_id}", "1").replace("{version}", "1.0")
            for body in ('{"name": "\\ud800"}', '{"\\udfff": [1, {"k": "a\\udc00"}]}'):
                response = client.open(
                    url, method=method.upper(), data=body, content_type="application/json"
                )
                # 422, or 400 where the operation's blueprint chose it (planning: the seed's).
                expected = operation["x-validation-status"]
                assert response.status_code == expected, (
                    method,
                    url,
                    response.get_data(as_text=True),
                )
                problem = response.get_json()
                assert {e["code"] for e in problem["errors"]} == {"invalid_unicode"}
            tried.append(f"{method.upper()} {path}")
    assert len(tried) >= 10, tried
