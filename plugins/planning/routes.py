"""HTTP routes of the planning plugin: parse, call the service, respond."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask_smorest import Blueprint

from app.api import parse_json, raw_body
from app.auth import auth_exempt, is_direct_loopback
from app.errors import BadRequest, Forbidden, JunctionError
from app.idempotency import idempotent
from plugins.planning import (
    config,
    marqed_import,
    release_notes,
    reports,
    service,
    sprint,
    webhooks,
)
from plugins.planning import schemas as s

MAX_WEBHOOK_BYTES = 1024 * 1024

blp = Blueprint(
    "planning",
    __name__,
    url_prefix="/api/planning",
    description="MQ Planning (Plane) sync: configuration, cycles, import, webhooks, sprints.",
)


@blp.get("/config")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.ConfigSchema)
def get_config(query: dict[str, Any]) -> dict[str, Any]:
    """The configuration (global, or for ``project_name``); secrets masked."""
    return config.public_config(service.resolve_project(query.get("project_name")))


@blp.post("/config")
@blp.arguments(s.ConfigUpdateSchema)
@blp.response(200, s.ConfigSchema)
def post_config(body: dict[str, Any]) -> dict[str, Any]:
    """Change the configuration; per-project keys go to ``project_name`` when given."""
    project = service.resolve_project(body.pop("project_name", None))
    return config.update_config(body, project)


@blp.post("/test-connection")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.ConnectionSchema)
def test_connection(query: dict[str, Any]) -> dict[str, Any]:
    """Check the API key, workspace and project against MQ Planning."""
    return service.test_connection(service.resolve_project(query.get("project_name")))


@blp.get("/cycles")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.CycleListSchema)
def cycles(query: dict[str, Any]) -> dict[str, Any]:
    """The project's cycles with their status and issue counts."""
    return service.list_cycles(service.resolve_project(query.get("project_name")))


@blp.post("/import-cycle")
@blp.arguments(s.ImportRequestSchema)
@blp.response(200, s.ImportResultSchema)
def import_cycle(body: dict[str, Any]) -> dict[str, Any]:
    """Import a cycle's work items as features of ``project_name``."""
    project = service.resolve_project(body["project_name"], required=True)
    assert project is not None
    return service.import_cycle_now(project, body["cycle_id"])


@blp.post("/complete-sprint")
@idempotent
@blp.arguments(s.CompleteSprintRequestSchema)
@blp.arguments(s.WaitQuerySchema, location="query", as_kwargs=True)
@blp.response(200, s.CompleteSprintResultSchema)
@blp.alt_response(202, schema=s.AcceptedSchema, description="Still running; poll status_url.")
def complete_sprint(body: dict[str, Any], wait: float) -> Any:
    """Complete a sprint: DoD check, retrospective to Plane, changelog, git tag, release notes."""
    status, result = sprint.start_completion(body["project_name"], body.get("cycle_id"), wait)
    return _answer(status, result)


@blp.get("/test-report")
@blp.arguments(s.ReportQuerySchema, location="query")
@blp.response(200, s.TestReportSchema)
def test_report(query: dict[str, Any]) -> dict[str, Any]:
    """Test aggregates per feature (MQ Planning-linked ones unless ``all_features=true``)."""
    project = service.resolve_project(query["project_name"], required=True)
    assert project is not None
    return reports.test_report(project, query["all_features"])


@blp.get("/test-history")
@blp.arguments(s.HistoryQuerySchema, location="query")
@blp.response(200, s.TestHistorySchema)
def test_history(query: dict[str, Any]) -> dict[str, Any]:
    """Individual test runs, newest first (optionally of one feature)."""
    project = service.resolve_project(query["project_name"], required=True)
    assert project is not None
    return reports.test_history(project, query.get("feature_id"), query["limit"], query["offset"])


@blp.get("/release-notes")
@blp.arguments(s.ReleaseNotesQuerySchema, location="query")
@blp.response(200, s.ReleaseNotesPageSchema)
def list_release_notes(query: dict[str, Any]) -> dict[str, Any]:
    """Release notes files in ``{project}/releases/``, newest first."""
    project = service.resolve_project(query["project_name"], required=True)
    assert project is not None
    return release_notes.page_of_notes(project.path, query["limit"], query["offset"])


@blp.get("/release-notes/content")
@blp.arguments(s.ReleaseNotesContentQuerySchema, location="query")
@blp.response(200, s.ReleaseNotesContentSchema)
def release_notes_content(query: dict[str, Any]) -> dict[str, Any]:
    """One release notes file; only plain ``.md`` names inside ``releases/`` are served."""
    project = service.resolve_project(query["project_name"], required=True)
    assert project is not None
    return release_notes.read_notes(project.path, query["filename"])


@blp.post("/self-host-setup")
@blp.response(200, s.SelfHostSchema)
def self_host_setup() -> dict[str, Any]:
    """Register Junction's own checkout as project ``junction`` (idempotent)."""
    return service.self_host_setup()


@blp.post("/marqed-import")
@idempotent
@blp.arguments(s.MarqedImportRequestSchema)
@blp.arguments(s.WaitQuerySchema, location="query", as_kwargs=True)
@blp.response(200, s.MarqedSummarySchema)
@blp.alt_response(202, schema=s.AcceptedSchema, description="Still running; poll status_url.")
def marqed_import_route(body: dict[str, Any], wait: float) -> Any:
    """Import a MarQed tree as Plane modules, work items and sub-items."""
    status, result = marqed_import.start_import(
        body["marqed_dir"], body.get("cycle_id"), body.get("project_name"), wait
    )
    return _answer(status, result)


def _answer(status: int, body: dict[str, Any]) -> Any:
    """The 200 body (serialised by the route's schema), or a 202 response as is."""
    if status == 202:
        response: Response = jsonify(s.AcceptedSchema().dump(body))
        response.status_code = 202
        response.headers["Location"] = body["status_url"]
        return response
    return body


@blp.get("/sync-status")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.SyncStatusSchema)
def sync_status(query: dict[str, Any]) -> dict[str, Any]:
    """State of the background sync."""
    return service.sync_status(service.resolve_project(query.get("project_name")))


@blp.post("/sync/toggle")
@blp.arguments(s.ProjectQuerySchema, location="query")
@blp.response(200, s.SyncStatusSchema)
def sync_toggle(query: dict[str, Any]) -> dict[str, Any]:
    """Switch the background sync on or off."""
    return service.toggle_sync(service.resolve_project(query.get("project_name")))


@blp.post("/webhooks")
@auth_exempt
@raw_body(content_types=("application/json",))
@blp.response(200, s.WebhookResultSchema)
@blp.doc(
    security=[],
    description="Plane webhook receiver. Authenticated by the HMAC-SHA256 signature of the raw "
    "body in X-Plane-Signature (or X-Planning-Signature), not by API tokens.",
)
def receive_webhook() -> dict[str, Any]:
    """Receive a Plane webhook delivery (signed), answer at once, re-import in the background."""
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        raise JunctionError(
            f"Webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes.",
            status=413,
            code="PAYLOAD_TOO_LARGE",
        )
    body = request.get_data(cache=False)
    if len(body) > MAX_WEBHOOK_BYTES:
        raise JunctionError("Webhook body too large.", status=413, code="PAYLOAD_TOO_LARGE")
    secrets = config.webhook_secrets()
    if secrets:
        signature = next(
            (request.headers[h] for h in webhooks.SIGNATURE_HEADERS if h in request.headers), None
        )
        if not webhooks.verify(body, signature, secrets):
            current_app.logger.warning("planning webhook rejected: bad or missing signature")
            raise Forbidden("Invalid webhook signature.", code="INVALID_SIGNATURE")
    elif not is_direct_loopback():
        # As the core's loopback guard: behind a proxy on the same host every sender arrives
        # from loopback, so a forwarded delivery is somebody else's and needs the signature.
        raise Forbidden(
            "No planning_webhook_secret is configured, so unsigned webhooks are accepted from "
            "loopback only. Configure the secret in Plane and in POST /api/planning/config.",
            code="WEBHOOK_SECRET_REQUIRED",
        )
    try:
        payload = parse_json(body)
        event = webhooks.parse(payload)
    except (ValueError, webhooks.InvalidPayload) as exc:
        raise BadRequest(f"Not a Plane webhook payload: {exc}", code="INVALID_PAYLOAD") from exc
    return service.handle_webhook(event)
