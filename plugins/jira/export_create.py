"""The create stage of the export: one issue per ticket, never a duplicate.

``create_attempted_at`` is committed before the create is sent with the ticket's marker label
and issue property; a ticket that has it but no key (a lost answer, a killed process) is looked
up in Jira first (:mod:`plugins.jira.lookup`) and adopted when found.
"""

from __future__ import annotations

from typing import Any

from app.http import HttpError, HttpValidationError
from plugins.jira import lookup, progress
from plugins.jira.adf import html_to_adf
from plugins.jira.adf.convert import plain_text_doc
from plugins.jira.client import PROPERTY_KEY
from plugins.jira.export_attempt import ClientAttempt, marker_label, now
from plugins.jira.failures import from_http
from plugins.jira.models import Ticket
from plugins.jira.prepare import Fix, build_fields, fallback_for

MAX_CREATE_TRIES = 3


class Creator(ClientAttempt):
    """The create stage of an attempt (see the module docstring)."""

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
            return {**fields, "description": plain_text_doc(ticket.description_html or "")}
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
