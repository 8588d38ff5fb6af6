"""One attempt at a session's export, as the stages share it: the checkpoint, the bookkeeping
on the session (fixes, progress) and the recording of a hard stop."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from app.db import db
from app.operations import OperationContext
from plugins.jira import progress, sessions
from plugins.jira.client import JiraClient
from plugins.jira.dependencies import dependency_order
from plugins.jira.failures import HardStop
from plugins.jira.models import ExportSession, Ticket
from plugins.jira.pacing import Pacer
from plugins.jira.prepare import Fix, ProjectMeta

MAX_RETRIES = 3


def now() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.UTC)


def marker_label(session_id: str, ticket_id: str) -> str:
    """The label that finds a ticket's issue again: ``junction-<session8>-t<ticket8>``."""
    return f"junction-{session_id[:8]}-t{ticket_id[:8]}"


class Attempt:
    """One attempt at exporting one session, as far as recording its failure goes: all that
    runs when no Jira client could be built (:meth:`fail` reads neither client nor settings)."""

    def __init__(self, ctx: OperationContext, session: ExportSession) -> None:
        self.ctx = ctx
        self.session = session
        self.checkpoint: dict[str, Any] = dict(ctx.checkpoint)
        self.checkpoint.setdefault("links", [])
        self.current: Ticket | None = None
        self.started = time.monotonic()

    def _save(self) -> None:
        self.ctx.save_checkpoint(self.checkpoint)  # commits the session's changes with it

    def fail(self, stop: HardStop) -> None:
        """Record the hard stop on the session and tell the listeners."""
        db.session.rollback()
        session = self.session
        tickets = dependency_order(sessions.tickets_of(session))
        current = self.current or next((t for t in tickets if not t.jira_ticket_key), None)
        if current is not None and not current.jira_ticket_key:
            current.jira_export_status = "failed"
        session.status = "export_failed"
        session.export_failed_at = now()
        session.first_error_at = session.first_error_at or session.export_failed_at
        session.failed_at_ticket_order = current.order if current is not None else None
        session.error_category = stop.category
        session.error_message = stop.message
        session.recovery_actions = [a.replace("{session_id}", session.id) for a in stop.actions]
        session.last_task_id = self.ctx.id
        session.export_task_id = None
        session.processing_seconds = float(session.processing_seconds or 0) + (
            time.monotonic() - self.started
        )
        self._save()
        retry = session.export_retry_count < MAX_RETRIES
        message = progress.failed_message(
            session.id, session.failed_at_ticket_order, stop.category, retry, stop.message
        )
        progress.publish(session.id, message, self.ctx.project)


class ClientAttempt(Attempt):
    """An attempt with a Jira client: what every export stage needs."""

    def __init__(self, ctx: OperationContext, session: ExportSession, client: JiraClient) -> None:
        super().__init__(ctx, session)
        self.client = client
        self.cfg = client.config
        self.sleep = progress.extension().get("sleep", time.sleep)
        self.pacer = Pacer(self.cfg.pacing, self.cfg.pacing_seconds, self.sleep)
        self.meta: ProjectMeta | None = None

    # -- bookkeeping ------------------------------------------------------------------------
    def _publish_progress(self, tickets: list[Ticket], stage: str) -> None:
        done = sum(1 for t in tickets if t.jira_ticket_key)
        self.session.current_ticket_title = (
            self.current.title[:255] if self.current is not None else None
        )
        self.ctx.progress(done, len(tickets), stage)
        message = progress.progress_message(
            self.session.id,
            done,
            len(tickets),
            0,
            stage,
            self.session.jira_project_key or "",
            self.cfg.pacing_seconds if self.cfg.pacing == "fixed" else 0.3,
        )
        progress.publish(self.session.id, message, self.ctx.project)

    def _add_fixes(self, ticket: Ticket, fixes: list[Fix]) -> None:
        if not fixes:
            return
        known = list(self.session.manual_fixes or [])
        for fix in fixes:
            entry = {
                "ticket_id": ticket.id,
                "jira_key": ticket.jira_ticket_key,
                "title": ticket.title,
                "issue_type": fix.issue_type,
                "recommended_action": fix.recommended_action,
                "jira_url": ticket.jira_ticket_url,
            }
            if entry not in known:
                known.append(entry)
        self.session.manual_fixes = known
