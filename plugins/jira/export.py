"""The export as a durable operation (kind ``jira.export``): resumable, never a duplicate.

Per ticket, in dependency order: fresh ADF, then ``create_attempted_at`` is committed, then the
create is sent with a label ``junction-<session8>-t<ticket8>`` and an issue property holding the
ticket id; the key and URL are committed as soon as Jira answers. A ticket that has
``create_attempted_at`` but no key (a lost answer, a killed process) is looked up in Jira first
(:mod:`plugins.jira.lookup`) and adopted when found. Links come after every issue exists.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from app.db import db
from app.errors import JunctionError
from app.http import HttpError, HttpValidationError
from app.operations import LeaseLost, OperationCancelled, OperationContext, PermanentFailure
from plugins.jira import lookup, progress, sessions
from plugins.jira.adf import html_to_adf
from plugins.jira.adf.convert import _plain_text_doc
from plugins.jira.client import PROPERTY_KEY, JiraClient, build_http
from plugins.jira.config import jira_config
from plugins.jira.failures import HardStop, from_http
from plugins.jira.models import ExportSession, Ticket
from plugins.jira.pacing import Pacer
from plugins.jira.prepare import Fix, ProjectMeta, build_fields, fallback_for, load_meta

KIND = "jira.export"
MAX_RETRIES = 3
MAX_CREATE_TRIES = 3


def now() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.UTC)


def marker_label(session_id: str, ticket_id: str) -> str:
    """The label that finds a ticket's issue again: ``junction-<session8>-t<ticket8>``."""
    return f"junction-{session_id[:8]}-t{ticket_id[:8]}"


def make_client(session: ExportSession) -> JiraClient:
    """The Jira client for the session's project settings (tests may inject a factory)."""
    cfg = jira_config(session.project_id)
    factory = progress.extension().get("client_factory")
    if factory is not None:
        client: JiraClient = factory(cfg)
        return client
    return JiraClient(cfg, build_http(cfg))


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
        tickets = sessions.dependency_order(sessions.tickets_of(session))
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


class Exporter(Attempt):
    """One attempt at exporting one session with a Jira client."""

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

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Create what is missing, upload attachments, link; return the result."""
        session = self.session
        tickets = sessions.dependency_order(sessions.tickets_of(session))
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

    def _create(self, ticket: Ticket) -> None:
        assert self.meta is not None
        label = marker_label(self.session.id, ticket.id)
        if ticket.create_attempted_at is not None and self._adopt(ticket, label):
            return
        conversion = html_to_adf(ticket.description_html or "", base_url=self.cfg.site_url)
        try:
            fields, fixes, sprint_after = build_fields(
                self.client, self.meta, ticket, conversion.adf, label
            )
        except HttpError as exc:
            raise from_http(exc, f"preparing ticket {ticket.order}") from exc
        properties = [
            {
                "key": PROPERTY_KEY,
                "value": {"ticket_id": ticket.id, "session_id": self.session.id},
            }
        ]
        tries = 0
        while True:
            tries += 1
            self.ctx.check_lease()
            ticket.create_attempted_at = now()
            self._save()
            try:
                created = self.client.create_issue(fields, properties)
                break
            except HttpValidationError as exc:
                fields = self._without_refused(ticket, fields, exc, fixes, tries)
            except HttpError as exc:
                if exc.category in ("auth", "permission", "not_found"):
                    raise from_http(exc, f"creating ticket {ticket.order}") from exc
                # The create may have happened (timeout, reset, 5xx after sending).
                if self._adopt(ticket, label):
                    self._add_fixes(ticket, fixes)
                    self._save()
                    return
                if tries >= MAX_CREATE_TRIES:
                    raise from_http(exc, f"creating ticket {ticket.order}") from exc
                self.sleep(min(30.0, exc.retry_after or 2.0**tries))
        self._persist(ticket, str(created["id"]), str(created["key"]))
        self._add_fixes(ticket, fixes)
        self._save()
        if sprint_after is not None:
            self._move_to_sprint(ticket, sprint_after)

    def _without_refused(
        self,
        ticket: Ticket,
        fields: dict[str, Any],
        exc: HttpValidationError,
        fixes: list[Fix],
        tries: int,
    ) -> dict[str, Any]:
        body = exc.body if isinstance(exc.body, dict) else {}
        refused = dict(body.get("errors") or {})
        messages = list(body.get("errorMessages") or [])
        optional = {"assignee", "priority", "labels", "description"} | {
            f for f in fields if f.startswith("customfield_")
        }
        if tries > MAX_CREATE_TRIES:
            raise from_http(exc, f"creating ticket {ticket.order}")
        if "INVALID_INPUT" in messages and "description" in fields:
            # Jira names no node: fall back to the text alone (jira-api.md 1.1).
            fixes.append(
                Fix(
                    "description_simplified",
                    "Jira refused the formatted description; it was "
                    "sent as plain text. Re-apply the formatting by hand.",
                )
            )
            return {**fields, "description": _plain_text_doc(ticket.description_html or "")}
        droppable = [name for name in refused if name in optional and name in fields]
        if not droppable or len(droppable) < len(refused):
            raise from_http(exc, f"creating ticket {ticket.order}")
        for name in droppable:
            fixes.append(fallback_for(name, ticket, str(refused[name])))
        return {k: v for k, v in fields.items() if k not in droppable}

    def _adopt(self, ticket: Ticket, label: str) -> bool:
        assert self.meta is not None
        try:
            found, orphans = lookup.find_created(
                self.client,
                self.meta.key,
                label,
                ticket.id,
                self.sleep,
                progress.extension().get("lookup_delays", lookup.DELAYS),
            )
        except HttpError as exc:
            raise from_http(exc, f"looking up ticket {ticket.order}") from exc
        if orphans:
            known = list(self.session.orphans or [])
            for orphan in orphans:
                entry = {**orphan, "ticket_id": ticket.id, "title": ticket.title}
                if entry not in known:
                    known.append(entry)
            self.session.orphans = known
        if found is None:
            self._save()
            return False
        self._persist(ticket, str(found["id"]), str(found["key"]))
        self.checkpoint["adopted"] = [*self.checkpoint.get("adopted", []), found["key"]]
        self._save()
        return True

    def _persist(self, ticket: Ticket, issue_id: str, key: str) -> None:
        ticket.jira_issue_id = issue_id
        ticket.jira_ticket_key = key
        ticket.jira_ticket_url = self.client.browse_url(key)
        ticket.jira_export_status = "exported"
        ticket.exported_at = now()

    def _move_to_sprint(self, ticket: Ticket, sprint_id: int) -> None:
        self.ctx.check_lease()
        try:
            self.client.http.post(
                f"/rest/agile/1.0/sprint/{sprint_id}/issue",
                json={"issues": [ticket.jira_ticket_key]},
                idempotent=True,
            )
        except HttpError as exc:
            if exc.category in ("auth",):
                raise from_http(exc, "moving an issue into its sprint") from exc
            self._add_fixes(ticket, [Fix("sprint_not_found", f"Move it into {ticket.sprint}.")])
            self._save()

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
