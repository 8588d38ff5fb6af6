"""HTTP routes of the planning plugin: parse, call the service, respond."""

from __future__ import annotations

from typing import Any

from flask import request

from app.api import raw_body
from app.auth import auth_exempt, is_direct_loopback
from app.blueprint import Blueprint
from app.domain import find_project, require_project
from app.idempotency import idempotent
from plugins.planning import (
    config,
    marqed_import,
    release_notes,
    reports,
    selfhost,
    service,
    sprint,
    sync,
    webhooks,
)
from plugins.planning import schemas as s

blp = Blueprint(
    "planning",
    __name__,
    url_prefix="/api/planning",
    description="MQ Planning (Plane) sync: configuration, cycles, import, webhooks, sprints. "
    "Invalid requests get 400 (the seed's error table), not Junction's usual 422.",
    # Seed 000's error table -- the public contract of this API -- answers invalid requests
    # (missing fields, an invalid cycle_id) with 400.
    validation_status=400,
)


@blp.get("/config")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.ConfigSchema)
def get_config(query: dict[str, Any]) -> dict[str, Any]:
    """The configuration (global, or for ``project_name``); secrets masked."""
    return config.public_config(find_project(query.get("project_name")))


@blp.post("/config")
@blp.arguments(s.ConfigUpdateSchema)
@blp.response(200, s.ConfigSchema)
def post_config(body: dict[str, Any]) -> dict[str, Any]:
    """Change the configuration; per-project keys go to ``project_name`` when given."""
    project = find_project(body.pop("project_name", None))
    return config.update_config(body, project)


@blp.post("/test-connection")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.ConnectionSchema)
def test_connection(query: dict[str, Any]) -> dict[str, Any]:
    """Check the API key, workspace and project against MQ Planning."""
    return service.test_connection(find_project(query.get("project_name")))


@blp.get("/cycles")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.CycleListSchema)
def cycles(query: dict[str, Any]) -> dict[str, Any]:
    """The project's cycles with their status and issue counts."""
    return service.list_cycles(find_project(query.get("project_name")))


@blp.post("/import-cycle")
@blp.arguments(s.ImportRequestSchema)
@blp.response(200, s.ImportResultSchema)
def import_cycle(body: dict[str, Any]) -> dict[str, Any]:
    """Import a cycle's work items as features of ``project_name``."""
    project = require_project(body["project_name"])
    return service.import_cycle_now(project, body["cycle_id"])


@blp.post("/complete-sprint")
@idempotent
@blp.arguments(s.CompleteSprintRequestSchema)
@blp.arguments(s.WaitQuerySchema, location="query", as_kwargs=True)
@blp.response(200, s.CompleteSprintResultSchema)
@blp.alt_response(202, schema=s.AcceptedSchema, description="Still running; poll status_url.")
def complete_sprint(body: dict[str, Any], wait: float) -> Any:
    """Complete a sprint: DoD check, retrospective to Plane, changelog, git tag, release notes."""
    project = require_project(body["project_name"])
    return sprint.start_completion(project, body.get("cycle_id"), wait)


@blp.get("/test-report")
@blp.arguments(s.ReportQuerySchema, location="query")
@blp.response(200, s.TestReportSchema)
def test_report(query: dict[str, Any]) -> dict[str, Any]:
    """Test aggregates per feature (MQ Planning-linked ones unless ``all_features=true``)."""
    project = require_project(query["project_name"])
    return reports.test_report(project, query["all_features"])


@blp.get("/test-history")
@blp.arguments(s.HistoryQuerySchema, location="query")
@blp.response(200, s.TestHistorySchema)
def test_history(query: dict[str, Any]) -> dict[str, Any]:
    """Individual test runs, newest first (optionally of one feature)."""
    project = require_project(query["project_name"])
    return reports.test_history(project, query.get("feature_id"), query["limit"], query["offset"])


@blp.get("/release-notes")
@blp.arguments(s.ReleaseNotesQuerySchema, location="query")
@blp.response(200, s.ReleaseNotesPageSchema)
def list_release_notes(query: dict[str, Any]) -> dict[str, Any]:
    """Release notes files in ``{project}/releases/``, newest first."""
    project = require_project(query["project_name"])
    return release_notes.page_of_notes(project.path, query["limit"], query["offset"])


@blp.get("/release-notes/content")
@blp.arguments(s.ReleaseNotesContentQuerySchema, location="query")
@blp.response(200, s.ReleaseNotesContentSchema)
def release_notes_content(query: dict[str, Any]) -> dict[str, Any]:
    """One release notes file; only plain ``.md`` names inside ``releases/`` are served."""
    project = require_project(query["project_name"])
    return release_notes.read_notes(project.path, query["filename"])


@blp.post("/self-host-setup")
@blp.response(200, s.SelfHostSchema)
def self_host_setup() -> dict[str, Any]:
    """Register Junction's own checkout as project ``junction`` (idempotent)."""
    return selfhost.self_host_setup()


@blp.post("/marqed-import")
@idempotent
@blp.arguments(s.MarqedImportRequestSchema)
@blp.arguments(s.WaitQuerySchema, location="query", as_kwargs=True)
@blp.response(200, s.MarqedSummarySchema)
@blp.alt_response(202, schema=s.AcceptedSchema, description="Still running; poll status_url.")
def marqed_import_route(body: dict[str, Any], wait: float) -> Any:
    """Import a MarQed tree as Plane modules, work items and sub-items."""
    return marqed_import.start_import(
        body["marqed_dir"], body.get("cycle_id"), body.get("project_name"), wait
    )


@blp.get("/sync-status")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.SyncStatusSchema)
def sync_status(query: dict[str, Any]) -> dict[str, Any]:
    """State of the background sync."""
    return sync.sync_status(find_project(query.get("project_name")))


@blp.post("/sync/toggle")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.SyncStatusSchema)
def sync_toggle(query: dict[str, Any]) -> dict[str, Any]:
    """Switch the background sync on or off."""
    return sync.toggle_sync(find_project(query.get("project_name")))


@blp.post("/webhooks")
@auth_exempt
@raw_body(content_types=("application/json",))
@blp.response(200, s.WebhookResultSchema)
@blp.doc(
    security=[],
    description="Plane webhook receiver. Authenticated by the HMAC-SHA256 signature of the raw "
    "body in X-Plane-Signature (or X-Planning-Signature), not by API tokens.",
    requestBody={
        "required": True,
        "content": {"application/json": {"schema": s.WebhookPayloadSchema}},
    },
    parameters=[
        {
            "in": "header",
            "name": "X-Plane-Signature",
            "required": False,
            "description": "Lowercase hex HMAC-SHA256 of the raw body under the webhook secret "
            "(required once planning_webhook_secret is set; 403 when it does not match).",
            "schema": {"type": "string", "pattern": "^(sha256=)?[0-9a-f]{64}$"},
        }
    ],
)
def receive_webhook() -> dict[str, Any]:
    """Receive a Plane webhook delivery (signed), answer at once, re-import in the background."""
    event = webhooks.receive(
        request.content_length,
        lambda: request.get_data(cache=False),
        request.headers,
        direct_loopback=is_direct_loopback(),
    )
    return webhooks.handle_webhook(event)
