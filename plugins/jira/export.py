"""The export as a durable operation (kind ``jira.export``): resumable, never a duplicate.

Per ticket, in dependency order: fresh ADF, then ``create_attempted_at`` is committed, then the
create is sent with a label ``junction-<session8>-t<ticket8>`` and an issue property holding the
ticket id; the key and URL are committed as soon as Jira answers. A ticket that has
``create_attempted_at`` but no key (a lost answer, a killed process) is looked up in Jira first
(:mod:`plugins.jira.lookup`) and adopted when found. Links come after every issue exists.
"""

from __future__ import annotations

import time
from typing import Any

from app.db import db
from app.errors import JunctionError
from app.http import HttpError
from app.operations import LeaseLost, OperationCancelled, OperationContext, PermanentFailure
from plugins.jira import progress, sessions
from plugins.jira.client import JiraClient, build_http
from plugins.jira.config import jira_config
from plugins.jira.dependencies import dependency_order
from plugins.jira.export_attempt import MAX_RETRIES, Attempt, marker_label, now
from plugins.jira.export_create import MAX_CREATE_TRIES, Creator
from plugins.jira.failures import HardStop, from_http
from plugins.jira.models import ExportSession, Ticket
from plugins.jira.prepare import Fix, load_meta

KIND = "jira.export"

__all__ = [
    "KIND",
    "MAX_CREATE_TRIES",
    "MAX_RETRIES",
    "Attempt",
    "Exporter",
    "export_operation",
    "make_client",
    "marker_label",
    "now",
]


def make_client(session: ExportSession) -> JiraClient:
    """The Jira client for the session's project settings (tests may inject a factory)."""
    cfg = jira_config(session.project_id)
    factory = progress.extension().get("client_factory")
    if factory is not None:
        client: JiraClient = factory(cfg)
        return client
    return JiraClient(cfg, build_http(cfg))


class Exporter(Creator):
    """One attempt at exporting one session with a Jira client: create what is missing (see
    :mod:`plugins.jira.export_create`), upload attachments, link, complete."""

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Create what is missing, upload attachments, link; return the result."""
        session = self.session
        tickets = dependency_order(sessions.tickets_of(session))
        key = session.jira_project_key or ""
        self.ctx.check_lease()
        self.meta = load_meta(self.client, key)
        pending = [t for t in tickets if not t.jira_ticket_key]
        for index, ticket in enumerate(tickets):
            self.current = ticket
            if not ticket.jira_ticket_key:
                self.ctx.raise_if_cancelled()
                position = tickets.index(ticket) + 1
                stage = f"Creating ticket {position} of {len(tickets)}: {ticket.title}"
                self._publish_progress(tickets, stage)
                self._create(ticket)
                self._upload(ticket)
                self._publish_progress(tickets, f"Created {ticket.jira_ticket_key}")
                if ticket is not pending[-1]:
                    self.pacer.after_ticket(self.client.last_headers)
            elif ticket.attachment_path and not ticket.attachment_uploaded:
                self._upload(ticket)
            del index
        self.current = None
        links = self._link(tickets)
        return self._complete(tickets, links)

    def _upload(self, ticket: Ticket) -> None:
        from plugins.jira import attachments

        if not ticket.attachment_path or ticket.attachment_uploaded or not ticket.jira_ticket_key:
            return
        status, why = attachments.check_uploadable(ticket, self.cfg.attachment_max_bytes)
        if status != "passed":
            self._add_fixes(ticket, [Fix("attachment_failed", f"{why} Attach it by hand.")])
            ticket.attachment_uploaded = True  # nothing more to do automatically
            self._save()
            return
        self.ctx.check_lease()
        try:
            existing = self.client.attachments(ticket.jira_ticket_key)
            same = any(
                a.get("filename") == ticket.attachment_filename
                and int(a.get("size") or -1) == ticket.attachment_size
                for a in existing
            )
            if not same:
                name, content, mime = attachments.read(ticket)
                self.client.add_attachment(ticket.jira_ticket_key, name, content, mime)
        except HttpError as exc:
            if exc.category in ("auth", "permission") or exc.retryable:
                raise from_http(exc, f"attaching a file to {ticket.jira_ticket_key}") from exc
            self._add_fixes(ticket, [Fix("attachment_failed", f"Jira refused it: {exc.message}")])
        ticket.attachment_uploaded = True
        self._save()

    def _link(self, tickets: list[Ticket]) -> int:
        by_id = {t.id: t for t in tickets}
        done = {tuple(pair) for pair in self.checkpoint["links"]}
        assert self.meta is not None
        wanted = [
            (by_id[dep].jira_ticket_key, t.jira_ticket_key)
            for t in tickets
            for dep in t.dependencies or []
            if dep in by_id
        ]
        if wanted and self.meta.blocks is None:
            for blocker, blocked in wanted:
                ticket = next(t for t in tickets if t.jira_ticket_key == blocked)
                self._add_fixes(
                    ticket, [Fix("link_missing", f"Link {blocker} blocks {blocked} by hand.")]
                )
            self._save()
            return 0
        for blocker, blocked in wanted:
            if (blocker, blocked) in done:
                continue
            self.ctx.check_lease()
            self._publish_progress(tickets, f"Linking {blocker} blocks {blocked}")
            try:
                self.client.link_blocks(self.meta.blocks or {}, str(blocker), str(blocked))
            except HttpError as exc:
                self.current = by_id[next(t.id for t in tickets if t.jira_ticket_key == blocked)]
                raise from_http(exc, f"linking {blocker} to {blocked}") from exc
            done.add((blocker, blocked))
            self.checkpoint["links"] = sorted([list(p) for p in done])
            self.session.dependencies_created = len(done)
            self._save()
        return len(done)

    def _complete(self, tickets: list[Ticket], links: int) -> dict[str, Any]:
        session = self.session
        elapsed = time.monotonic() - self.started
        session.processing_seconds = float(session.processing_seconds or 0) + elapsed
        session.status = "completed"
        session.current_stage = "completed"
        session.completed_at = now()
        session.last_task_id = self.ctx.id
        session.export_task_id = None
        session.current_ticket_title = None
        session.dependencies_created = links
        self._save()
        created = sum(1 for t in tickets if t.jira_ticket_key)
        minutes = session.processing_seconds / 60
        fixes = len(session.manual_fixes or [])
        message = progress.complete_message(session.id, created, links, fixes, minutes)
        progress.publish(session.id, message, self.ctx.project)
        return {k: v for k, v in message.items() if k != "type"}


def export_operation(ctx: OperationContext) -> dict[str, Any]:
    """The ``jira.export`` handler: export (or resume) ``params.session_id``."""
    session = sessions.get_session(ctx.params["session_id"])
    if session.status == "completed":
        return {"session_id": session.id, "status": "completed"}
    session.status = "exporting"
    session.export_task_id = ctx.id
    db.session.commit()
    client: JiraClient | None = None
    stop = HardStop("user_fixable", "Jira is not configured.", ["Set the connection settings"])
    try:
        client = make_client(session)
    except JunctionError as exc:
        stop = HardStop("user_fixable", exc.detail, [*stop.actions, "Retry the export"])
    exporter = Attempt(ctx, session) if client is None else Exporter(ctx, session, client)
    try:
        if not isinstance(exporter, Exporter):
            raise stop
        return exporter.run()
    except (LeaseLost, OperationCancelled):
        raise
    except HardStop as stop_:
        stop = stop_
    except Exception as exc:
        exporter.fail(HardStop("temporary", f"Unexpected error: {type(exc).__name__}", []))
        raise
    exporter.fail(stop)
    raise PermanentFailure(
        stop.message,
        category=stop.category,
        status=stop.status,
        code="JIRA_EXPORT_FAILED",
        error_category=stop.category,
        user_message=stop.message,
        recovery_actions=session.recovery_actions,
    ) from stop


# app.operations reads this attribute of the handler function as its retry budget (a function
# has no typed attributes).
export_operation.max_attempts = 20  # type: ignore[attr-defined]
