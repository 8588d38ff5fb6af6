"""HTTP routes of the jira plugin: parse, call the service, respond."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import Response, current_app, request
from flask_smorest import Blueprint
from werkzeug.datastructures import FileStorage

from app.api import raw_body
from app.db import db
from app.domain import find_project
from app.events.streams import accept_websocket, check_websocket_origin, parse_event_id
from app.idempotency import idempotent
from plugins.jira import attachments, checks, config, service, sessions
from plugins.jira import schemas as s
from plugins.jira.stream import stream_progress

blp = Blueprint(
    "jira",
    __name__,
    url_prefix="/api/jira",
    description="Jira Cloud export: sessions and tickets, settings, project validation, "
    "HTML to ADF, exports with live progress, retries and results.",
)
ws_bp = FlaskBlueprint("jira_ws", __name__)


# -- settings and checks -------------------------------------------------------------------------


# Session and ticket ids are UUIDs; documented so that clients (and fuzzers) know the form.
# Any other id is a 404.
SESSION_ID: dict[str, Any] = {
    "in": "path",
    "name": "session_id",
    "description": "The export session's id (a UUID).",
    "schema": {"type": "string", "format": "uuid", "maxLength": 36},
}
TICKET_ID: dict[str, Any] = {
    "in": "path",
    "name": "ticket_id",
    "description": "The ticket's id (a UUID).",
    "schema": {"type": "string", "format": "uuid", "maxLength": 36},
}


@blp.get("/config")
@blp.arguments(s.JiraProjectQuerySchema, location="query")
@blp.response(200, s.JiraConfigSchema)
def get_config(query: dict[str, Any]) -> dict[str, Any]:
    """The connection settings (global, or for ``project_name``); the token masked."""
    return config.public_config(find_project(query.get("project_name")))


@blp.post("/config")
@blp.arguments(s.JiraConfigUpdateSchema)
@blp.response(200, s.JiraConfigSchema)
def post_config(body: dict[str, Any]) -> dict[str, Any]:
    """Change settings; with ``project_name`` only for that project."""
    project = find_project(body.pop("project_name", None))
    return config.update_config(body, project)


@blp.post("/test-connection")
@blp.arguments(s.JiraProjectQuerySchema, location="query")
@blp.response(200, s.JiraConnectionSchema)
def test_connection(query: dict[str, Any]) -> dict[str, Any]:
    """Check the settings with ``GET /rest/api/3/myself``; names the wrong part."""
    return checks.test_connection(find_project(query.get("project_name")))


@blp.post("/validate-project")
@blp.arguments(s.JiraValidateProjectSchema)
@blp.response(200, s.JiraProjectValidationSchema)
def validate_project(body: dict[str, Any]) -> dict[str, Any]:
    """The seed's project validation: permissions, issue types, sprints, users, priorities."""
    project = find_project(body.get("project_name"))
    return checks.validate_project(project, body["project_key"], body["user_requirements"])


@blp.post("/adf-preview")
@blp.arguments(s.JiraAdfPreviewRequestSchema)
@blp.response(200, s.JiraAdfPreviewSchema)
def adf_preview(body: dict[str, Any]) -> dict[str, Any]:
    """Convert HTML to ADF; what was dropped or changed is a warning."""
    return checks.adf_preview(body["html"])


@blp.post("/test-adf-conversion/<session_id>", parameters=[SESSION_ID])
@blp.arguments(s.JiraAdfTestRequestSchema)
@blp.response(200, s.JiraAdfTestSchema)
def test_adf_conversion(body: dict[str, Any], session_id: str) -> dict[str, Any]:
    """Fresh ADF conversions of a session's tickets; attachments checked, not uploaded."""
    ids = [str(t) for t in body["ticket_ids"]]
    return checks.test_adf_conversion(session_id, ids, body["include_attachments"])


# -- sessions and tickets --------------------------------------------------------------------------


@blp.get("/sessions")
@blp.arguments(s.JiraSessionQuerySchema, location="query")
@blp.response(200, s.JiraSessionPageSchema)
def list_sessions(query: dict[str, Any]) -> dict[str, Any]:
    """Sessions, newest first."""
    return sessions.list_sessions(query["limit"], query["offset"])


@blp.post("/sessions")
@idempotent
@blp.arguments(s.JiraSessionCreateSchema)
@blp.response(201, s.JiraSessionSchema)
def create_session(body: dict[str, Any]) -> dict[str, Any]:
    """A new session (optionally one ticket per feature of ``project_name``)."""
    return sessions.session_view(sessions.create_session(body), with_tickets=True)


@blp.get("/sessions/<session_id>", parameters=[SESSION_ID])
@blp.response(200, s.JiraSessionSchema)
def get_session(session_id: str) -> dict[str, Any]:
    """A session with its tickets."""
    return sessions.session_view(sessions.get_session(session_id), with_tickets=True)


@blp.patch("/sessions/<session_id>", parameters=[SESSION_ID])
@blp.arguments(s.JiraSessionUpdateSchema)
@blp.response(200, s.JiraSessionSchema)
def update_session(body: dict[str, Any], session_id: str) -> dict[str, Any]:
    """Rename or re-target a session."""
    session = sessions.update_session(sessions.get_session(session_id), body)
    return sessions.session_view(session, with_tickets=True)


@blp.delete("/sessions/<session_id>", parameters=[SESSION_ID])
@blp.response(204)
def delete_session(session_id: str) -> None:
    """Delete a session and its tickets."""
    sessions.delete_session(sessions.get_session(session_id))


@blp.get("/sessions/<session_id>/tickets", parameters=[SESSION_ID])
@blp.response(200, s.JiraTicketListSchema)
def list_tickets(session_id: str) -> dict[str, Any]:
    """The session's tickets by ``order``."""
    session = sessions.get_session(session_id)
    return {"items": [sessions.ticket_view(t) for t in sessions.tickets_of(session)]}


@blp.post("/sessions/<session_id>/tickets", parameters=[SESSION_ID])
@blp.arguments(s.JiraTicketCreateSchema)
@blp.response(201, s.JiraTicketSchema)
def create_ticket(body: dict[str, Any], session_id: str) -> dict[str, Any]:
    """Add a ticket (dependencies: ticket ids of this session; a cycle is a 422)."""
    body["dependencies"] = [str(d) for d in body.get("dependencies") or []]
    ticket = sessions.create_ticket(sessions.get_session(session_id), body)
    return sessions.ticket_view(ticket)


@blp.get("/sessions/<session_id>/tickets/<ticket_id>", parameters=[SESSION_ID, TICKET_ID])
@blp.response(200, s.JiraTicketSchema)
def get_ticket(session_id: str, ticket_id: str) -> dict[str, Any]:
    """One ticket."""
    session = sessions.get_session(session_id)
    return sessions.ticket_view(sessions.get_ticket(session, ticket_id))


@blp.patch("/sessions/<session_id>/tickets/<ticket_id>", parameters=[SESSION_ID, TICKET_ID])
@blp.arguments(s.JiraTicketUpdateSchema)
@blp.response(200, s.JiraTicketSchema)
def update_ticket(body: dict[str, Any], session_id: str, ticket_id: str) -> dict[str, Any]:
    """Change a ticket (409 once its session is exporting or exported)."""
    if "dependencies" in body:
        body["dependencies"] = [str(d) for d in body["dependencies"] or []]
    session = sessions.get_session(session_id)
    ticket = sessions.update_ticket(session, sessions.get_ticket(session, ticket_id), body)
    return sessions.ticket_view(ticket)


@blp.delete("/sessions/<session_id>/tickets/<ticket_id>", parameters=[SESSION_ID, TICKET_ID])
@blp.response(204)
def delete_ticket(session_id: str, ticket_id: str) -> None:
    """Remove a ticket (and dependencies on it)."""
    session = sessions.get_session(session_id)
    sessions.delete_ticket(session, sessions.get_ticket(session, ticket_id))


@blp.put(
    "/sessions/<session_id>/tickets/<ticket_id>/attachment", parameters=[SESSION_ID, TICKET_ID]
)
@raw_body(content_types=("multipart/form-data",))
@blp.arguments(s.JiraUploadSchema, location="files")
@blp.response(200, s.JiraTicketSchema)
def put_attachment(files: dict[str, Any], session_id: str, ticket_id: str) -> dict[str, Any]:
    """Attach a file (multipart part ``file``): size-limited, content type sniffed."""
    session = sessions.get_session(session_id)
    ticket = sessions.get_ticket(session, ticket_id)
    sessions.require_editable(session)
    upload = files.get("file") or request.files.get("file")
    if not isinstance(upload, FileStorage):
        upload = None
    cfg = config.effective(session.project_id)
    folder = attachments.folder_of(current_app.instance_path)
    attachments.store(
        ticket,
        folder,
        (upload.filename or "") if upload is not None else "",
        # No upload: the filename is empty and store() refuses it before reading the stream.
        upload.stream if upload is not None else io.BytesIO(),
        int(cfg.get("attachment_max_bytes") or 1),
    )
    db.session.commit()
    return sessions.ticket_view(ticket)


@blp.delete(
    "/sessions/<session_id>/tickets/<ticket_id>/attachment", parameters=[SESSION_ID, TICKET_ID]
)
@blp.response(204)
def delete_attachment(session_id: str, ticket_id: str) -> None:
    """Remove the ticket's attachment."""
    session = sessions.get_session(session_id)
    ticket = sessions.get_ticket(session, ticket_id)
    sessions.require_editable(session)
    attachments.remove(ticket)
    db.session.commit()


# -- export ---------------------------------------------------------------------------------------


@blp.post("/export-session/<session_id>", parameters=[SESSION_ID])
@blp.response(202, s.JiraExportStartSchema)
def export_session(session_id: str) -> dict[str, Any]:
    """Start the export (or answer the running one's task id)."""
    return service.start_export(session_id)


@blp.get("/export-status/<session_id>", parameters=[SESSION_ID])
@blp.response(200, s.JiraExportStatusSchema)
def export_status(session_id: str) -> dict[str, Any]:
    """Exporting, completed or failed; at most 1 request per 2 s per session."""
    return service.export_status(session_id)


@blp.post("/retry-failed/<session_id>", parameters=[SESSION_ID])
@blp.response(202, s.JiraExportRetrySchema)
def retry_failed(session_id: str) -> dict[str, Any]:
    """Resume a failed export from the failed ticket (at most 3 retries)."""
    return service.retry_failed(session_id)


@blp.get("/export-results/<session_id>", parameters=[SESSION_ID])
@blp.response(200, s.JiraExportResultsSchema)
def export_results(session_id: str) -> dict[str, Any]:
    """Keys, URLs, dependencies created, manual fixes and orphans."""
    return service.export_results(session_id)


@ws_bp.route("/api/jira/export/progress/<session_id>", websocket=True)
def export_progress(session_id: str) -> Response:
    """WebSocket of the seed's ``export_progress``/``export_complete``/``export_failed``."""
    refused = check_websocket_origin()
    if refused is not None:
        return refused
    session = sessions.get_session(session_id)
    last_event_id = parse_event_id(request.args.get("last_event_id"), "last_event_id")
    return accept_websocket(lambda ws: stream_progress(ws, session.id, last_event_id))
