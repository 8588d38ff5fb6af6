"""The jira panel of the web console (``/console/jira/``).

The export sessions with their tickets; for the session picked with ``?session=<id>``, the
export's live progress bar (the page follows ``jira:export:<id>``, where the exporter publishes
the seed's progress messages), a failure with its category, message and recovery actions and a
**Retry** button, and the results: every created issue linked into Jira and the manual fixes.
Links into Jira are built here from the site URL of the settings and a well-formed issue key —
never taken from stored or remote text — so a link can only point at the configured site.
The actions call the same services as ``/api/jira``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from flask import request

from app.db import db
from app.errors import JunctionError
from plugins.jira import progress, service, sessions
from plugins.jira.config import effective
from plugins.jira.export import MAX_RETRIES
from plugins.jira.models import ExportSession, Ticket

CHANNELS = ("operations",)  # an export starting or ending anywhere re-renders the list
SESSIONS_SHOWN = 25
KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}-[1-9][0-9]{0,17}$")
STATUS_CLASS = {
    "draft": "pending",
    "exporting": "running",
    "completed": "succeeded",
    "export_failed": "failed",
}
STATUS_LABEL = {"export_failed": "failed"}


class JiraLinks:
    """Builds ``<site>/browse/<KEY>`` from the settings, one site lookup per project."""

    def __init__(self) -> None:
        self._sites: dict[int | None, str | None] = {}

    def site(self, project_id: int | None) -> str | None:
        """The project's (else the global) site URL when it is a plain http(s) URL."""
        if project_id not in self._sites:
            try:
                raw = str(effective(project_id).get("site_url") or "")
            except Exception:  # unreadable settings: show keys without links
                raw = ""
            self._sites[project_id] = safe_site(raw)
        return self._sites[project_id]

    def href(self, project_id: int | None, key: str | None) -> str | None:
        """The issue's link, or ``None`` when the key or the site is not safe to link."""
        site = self.site(project_id)
        if not site or not key or not KEY_RE.match(key):
            return None
        return f"{site}/browse/{quote(key, safe='-_')}"


def safe_site(raw: str) -> str | None:
    """``raw`` without a trailing slash when it is an http(s) URL with a plain host, else None."""
    raw = raw.strip().rstrip("/")
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises for a malformed port
    except ValueError:
        return None
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username or parts.password or parts.query or parts.fragment:
        return None
    if any(ch in raw for ch in "\"'<>\\ \t\r\n`"):
        return None
    return raw


def _counts() -> dict[str, dict[str, int]]:
    """Tickets and tickets with a Jira key, per session."""
    rows = db.session.execute(
        sa.select(
            Ticket.session_id,
            sa.func.count(),
            sa.func.count(Ticket.jira_ticket_key),
        ).group_by(Ticket.session_id)
    )
    return {sid: {"total": int(total), "done": int(done)} for sid, total, done in rows}


def _percent(done: int, total: int) -> float:
    return round(100.0 * done / total, 1) if total else 0.0


def _session_row(session: ExportSession, counts: Mapping[str, int]) -> dict[str, Any]:
    total, done = counts.get("total", 0), counts.get("done", 0)
    return {
        "id": session.id,
        "name": session.name,
        "status": session.status,
        "status_class": STATUS_CLASS.get(session.status, "pending"),
        "status_label": STATUS_LABEL.get(session.status, session.status),
        "jira_project_key": session.jira_project_key,
        "total": total,
        "done": done,
        "percent": _percent(done, total),
        "task_id": session.export_task_id,
        "retries": session.export_retry_count,
        "updated_at": session.updated_at,
    }


def _results(session: ExportSession, links: JiraLinks) -> dict[str, Any]:
    results = service.export_results(session.id)
    for ticket in results["jira_tickets"]:
        ticket["href"] = links.href(session.project_id, ticket["jira_key"])
    for fix in results["manual_fixes"]:
        fix["href"] = links.href(session.project_id, fix["jira_key"])
    results["orphans"] = [
        {**orphan, "href": links.href(session.project_id, orphan.get("jira_key"))}
        for orphan in results["orphans"]
        if isinstance(orphan, dict)
    ]
    return results


def _detail(session_id: str, links: JiraLinks, counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """The picked session: its row, tickets, failure and results."""
    try:
        session = sessions.get_session(session_id)
    except JunctionError as exc:
        return {"missing": exc.detail}
    row = _session_row(session, counts.get(session.id, {}))
    tickets = [
        {**sessions.ticket_view(t), "href": links.href(session.project_id, t.jira_ticket_key)}
        for t in sessions.tickets_of(session)
    ]
    failure = None
    if session.status == "export_failed":
        failure = {
            "category": session.error_category,
            "message": session.error_message,
            "actions": list(session.recovery_actions or []),
            "failed_at": session.failed_at_ticket_order,
            "failed_when": session.export_failed_at,
            "retries_used": session.export_retry_count,
            "retries_left": max(0, MAX_RETRIES - session.export_retry_count),
        }
    return {
        "session": row,
        "current_ticket": session.current_ticket_title,
        "started_at": session.export_started_at,
        "completed_at": session.completed_at,
        "tickets": tickets,
        "failure": failure,
        "results": _results(session, links) if row["done"] else None,
        "max_retries": MAX_RETRIES,
    }


def panel_context() -> dict[str, Any]:
    """The newest sessions, and the picked one in detail, for the template."""
    links = JiraLinks()
    counts = _counts()
    recent = list(
        db.session.scalars(
            sa.select(ExportSession)
            .order_by(ExportSession.created_at.desc(), ExportSession.id)
            .limit(SESSIONS_SHOWN)
        )
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ExportSession)) or 0
    rows = [_session_row(s, counts.get(s.id, {})) for s in recent]
    picked = request.args.get("session")
    detail = _detail(picked, links, counts) if picked else None
    follow = [progress.channel(r["id"]) for r in rows if r["status"] == "exporting"]
    if detail and "session" in detail:
        follow.insert(0, progress.channel(detail["session"]["id"]))
    return {
        "sessions": rows,
        "total": total,
        "detail": detail,
        "picked": picked,
        "console_channels": follow,
    }


# -- actions ------------------------------------------------------------------------------------


def export(form: Mapping[str, str]) -> str:
    """Start the export of a session (the same service as ``POST /api/jira/export-session``)."""
    answer = service.start_export(form.get("session_id") or "")
    total = answer.get("total_tickets")
    if total is None:
        return f"The export of this session is already running (task {answer['task_id'][:8]})."
    return (
        f"Export of {total} tickets to {answer['jira_project_key']} started "
        f"(about {answer['estimated_duration_minutes']} min)."
    )


def retry(form: Mapping[str, str]) -> str:
    """Resume a failed export from its failed ticket (``POST /api/jira/retry-failed``)."""
    answer = service.retry_failed(form.get("session_id") or "")
    return (
        f"Retry {answer['retry_attempt']} of {MAX_RETRIES} started: resuming from ticket "
        f"{answer['resuming_from_ticket_order']}, {answer['preserved_successful_tickets']} "
        f"created issues kept."
    )
