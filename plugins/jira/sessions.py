"""Export sessions and their tickets: CRUD, ordering, dependencies (no cycles: the graph is in
:mod:`plugins.jira.dependencies`), and sessions built from a project's features
(:mod:`plugins.jira.from_features`). Flask-free: the routes pass plain values in."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.domain import require_project
from app.domain.models import Project
from app.errors import Conflict, NotFound, ValidationFailed, field_error
from plugins.jira.dependencies import find_cycle
from plugins.jira.from_features import tickets_from_features
from plugins.jira.models import ExportSession, Ticket

LOCKED_STATUSES = ("exporting", "completed")
TICKET_FIELDS = (
    "title",
    "description_html",
    "issue_type",
    "assignee",
    "sprint",
    "priority",
    "labels",
    "dependencies",
    "order",
)


def _uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise NotFound(f"No {what} {value!r}: ids are UUIDs.", code="JIRA_NOT_FOUND") from exc


def get_session(session_id: str) -> ExportSession:
    """The session, or a 404 problem."""
    found = db.session.get(ExportSession, _uuid(session_id, "export session"))
    if found is None:
        raise NotFound(f"Export session {session_id} does not exist.", code="JIRA_NOT_FOUND")
    return found


def get_ticket(session: ExportSession, ticket_id: str) -> Ticket:
    """A ticket of ``session``, or a 404 problem."""
    found = db.session.get(Ticket, _uuid(ticket_id, "ticket"))
    if found is None or found.session_id != session.id:
        raise NotFound(
            f"Ticket {ticket_id} is not part of session {session.id}.", code="JIRA_NOT_FOUND"
        )
    return found


def require_editable(session: ExportSession) -> None:
    """409 for a session whose tickets are being or have been exported."""
    if session.status in LOCKED_STATUSES:
        raise Conflict(
            f"Session {session.id} is {session.status}: its tickets can no longer be edited.",
            code="JIRA_SESSION_LOCKED",
        )


def tickets_of(session: ExportSession) -> list[Ticket]:
    """Tickets ordered by ``order`` (then creation, for ties)."""
    return list(
        db.session.scalars(
            sa.select(Ticket)
            .where(Ticket.session_id == session.id)
            .order_by(Ticket.order, Ticket.created_at, Ticket.id)
        )
    )


def session_view(session: ExportSession, with_tickets: bool = False) -> dict[str, Any]:
    """A session as the API returns it."""
    project = db.session.get(Project, session.project_id) if session.project_id else None
    view: dict[str, Any] = {
        "id": session.id,
        "name": session.name,
        "project_name": project.name if project else None,
        "jira_project_key": session.jira_project_key,
        "status": session.status,
        "current_stage": session.current_stage,
        "export_task_id": session.export_task_id,
        "export_started_at": session.export_started_at,
        "export_failed_at": session.export_failed_at,
        "completed_at": session.completed_at,
        "failed_at_ticket_order": session.failed_at_ticket_order,
        "export_retry_count": session.export_retry_count,
        "ticket_count": len(session.tickets),
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }
    if with_tickets:
        view["tickets"] = [ticket_view(t) for t in tickets_of(session)]
    return view


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    """A ticket as the API returns it."""
    attachment = None
    if ticket.attachment_filename:
        attachment = {
            "filename": ticket.attachment_filename,
            "size": ticket.attachment_size,
            "content_type": ticket.attachment_content_type,
            "uploaded": ticket.attachment_uploaded,
        }
    return {
        "id": ticket.id,
        "session_id": ticket.session_id,
        "order": ticket.order,
        "title": ticket.title,
        "description_html": ticket.description_html,
        "issue_type": ticket.issue_type,
        "assignee": ticket.assignee,
        "sprint": ticket.sprint,
        "priority": ticket.priority,
        "labels": list(ticket.labels or []),
        "dependencies": list(ticket.dependencies or []),
        "feature_id": ticket.feature_id,
        "attachment": attachment,
        "jira_export_status": ticket.jira_export_status,
        "jira_ticket_key": ticket.jira_ticket_key,
        "jira_ticket_url": ticket.jira_ticket_url,
        "exported_at": ticket.exported_at,
    }


def list_sessions(limit: int, offset: int) -> dict[str, Any]:
    """A page of sessions, newest first."""
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ExportSession)) or 0
    rows = db.session.scalars(
        sa.select(ExportSession)
        .order_by(ExportSession.created_at.desc(), ExportSession.id)
        .limit(limit)
        .offset(offset)
    )
    return {
        "items": [session_view(s) for s in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


def create_session(data: dict[str, Any]) -> ExportSession:
    """A new empty session, or one ticket per feature when ``feature_ids``/``from_features``."""
    project = require_project(data["project_name"]) if data.get("project_name") else None
    session = ExportSession(
        name=data.get("name") or (f"{project.name} export" if project else "Jira export"),
        project_id=project.id if project else None,
        jira_project_key=data.get("jira_project_key"),
        status="draft",
        current_stage="review",
        recovery_actions=[],
        manual_fixes=[],
        orphans=[],
    )
    db.session.add(session)
    db.session.flush()
    if project is not None and ("feature_ids" in data or data.get("from_features")):
        tickets_from_features(session, project, data.get("feature_ids"))
    db.session.commit()
    return session


def update_session(session: ExportSession, changes: dict[str, Any]) -> ExportSession:
    """Rename or re-target a session (not while exporting)."""
    if session.status == "exporting":
        raise Conflict("The session is exporting; wait for it to finish.", code="JIRA_EXPORTING")
    for key in ("name", "jira_project_key"):
        if key in changes:
            setattr(session, key, changes[key])
    db.session.commit()
    return session


def delete_session(session: ExportSession) -> None:
    """Delete a session and its tickets (not while exporting)."""
    if session.status == "exporting":
        raise Conflict("The session is exporting; wait for it to finish.", code="JIRA_EXPORTING")
    db.session.delete(session)
    db.session.commit()


# -- tickets -------------------------------------------------------------------------------------


def _check_dependencies(session: ExportSession, ticket_id: str, deps: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(str(d) for d in deps))
    known = {t.id: t for t in tickets_of(session)}
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise ValidationFailed(
            f"Dependencies must be tickets of the same session: {', '.join(unknown)}.",
            errors=[field_error("dependencies", "Unknown ticket of this session.", "unknown")],
        )
    if ticket_id in wanted:
        raise ValidationFailed(
            "A ticket cannot depend on itself.",
            errors=[field_error("dependencies", "Self-dependency.", "cycle")],
        )
    graph = {t.id: list(t.dependencies or []) for t in known.values()}
    graph[ticket_id] = wanted
    cycle = find_cycle(graph)
    if cycle:
        names = {**{t.id: t.title for t in known.values()}}
        path = " -> ".join(f"{names.get(i, i)} ({i})" for i in cycle)
        raise ValidationFailed(
            f"These dependencies would make a cycle: {path}.",
            errors=[field_error("dependencies", "Dependency cycle.", "cycle")],
            cycle=cycle,
        )
    return wanted


def _next_order(session: ExportSession) -> int:
    current = db.session.scalar(
        sa.select(sa.func.max(Ticket.order)).where(Ticket.session_id == session.id)
    )
    return (current or 0) + 1


def create_ticket(session: ExportSession, data: dict[str, Any]) -> Ticket:
    """Add a ticket (at the end unless ``order`` is given)."""
    require_editable(session)
    ticket = Ticket(
        session_id=session.id,
        order=data.get("order") or _next_order(session),
        title=data["title"],
        description_html=data.get("description_html") or "",
        issue_type=data.get("issue_type") or "Task",
        assignee=data.get("assignee"),
        sprint=data.get("sprint"),
        priority=data.get("priority"),
        labels=list(data.get("labels") or []),
        dependencies=[],
        jira_export_status="pending",
        attachment_uploaded=False,
    )
    db.session.add(ticket)
    db.session.flush()
    if data.get("dependencies"):
        ticket.dependencies = _check_dependencies(session, ticket.id, data["dependencies"])
    db.session.commit()
    return ticket


def update_ticket(session: ExportSession, ticket: Ticket, changes: dict[str, Any]) -> Ticket:
    """Change a ticket's fields (409 once the session is exporting or exported)."""
    require_editable(session)
    for key in TICKET_FIELDS:
        if key not in changes:
            continue
        value = changes[key]
        if key == "dependencies":
            value = _check_dependencies(session, ticket.id, value or [])
        elif key == "labels":
            value = list(value or [])
        elif key == "issue_type":
            value = value or "Task"
        setattr(ticket, key, value)
    db.session.commit()
    return ticket


def delete_ticket(session: ExportSession, ticket: Ticket) -> None:
    """Remove a ticket and every dependency on it."""
    require_editable(session)
    for other in tickets_of(session):
        if ticket.id in (other.dependencies or []):
            other.dependencies = [d for d in other.dependencies if d != ticket.id]
    db.session.delete(ticket)
    db.session.commit()
