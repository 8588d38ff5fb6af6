"""What an export learns about the Jira project before creating anything, and how a ticket
becomes the ``fields`` of a create with graceful fallbacks (each one a manual fix).

Fallbacks (jira-api.md 1.8-1.10): an assignee who cannot be assigned -> unassigned; a sprint
that is not active or future -> none; a priority outside the scheme -> the scheme's default; a
field not on the create screen -> dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.http import HttpError
from plugins.jira.client import JiraClient, blocks_type
from plugins.jira.failures import HardStop, from_http
from plugins.jira.models import Ticket

SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
NEEDED = ["BROWSE_PROJECTS", "CREATE_ISSUES"]


@dataclass
class IssueTypeMeta:
    """One issue type's create screen."""

    id: str
    name: str
    fields: dict[str, dict[str, Any]]

    @property
    def sprint_field(self) -> str | None:
        """The id of the Sprint custom field on this screen, if any."""
        for field_id, meta in self.fields.items():
            if (meta.get("schema") or {}).get("custom") == SPRINT_SCHEMA:
                return field_id
        return None


@dataclass
class ProjectMeta:
    """Project key, issue types (lazily loaded screens), sprints, link type, user cache."""

    key: str
    types_by_name: dict[str, dict[str, Any]]
    sprints: dict[str, int] = field(default_factory=dict)
    sprints_loaded: bool = False
    blocks: dict[str, Any] | None = None
    screens: dict[str, IssueTypeMeta] = field(default_factory=dict)
    users: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Fix:
    """A manual fix to record once the issue exists."""

    issue_type: str
    recommended_action: str


def load_meta(client: JiraClient, key: str) -> ProjectMeta:
    """Check the project and permissions; hard stop when the export cannot start."""
    try:
        client.project(key)
        perms = client.my_permissions(key, NEEDED)
        missing = [name for name, ok in perms.items() if not ok]
        if missing:
            raise HardStop(
                "admin_required",
                f"The Jira account lacks {', '.join(missing)} in project {key}.",
                ["Ask a Jira administrator to grant " + ", ".join(missing), "Retry the export"],
            )
        types = {str(t["name"]).lower(): t for t in client.issue_types(key)}
        blocks = blocks_type(client.link_types())
    except HttpError as exc:
        raise from_http(exc, f"checking project {key}") from exc
    return ProjectMeta(key=key, types_by_name=types, blocks=blocks)


def screen(client: JiraClient, meta: ProjectMeta, issue_type: str) -> IssueTypeMeta:
    """The create screen of ``issue_type`` (hard stop when the project does not offer it)."""
    wanted = issue_type.lower()
    if wanted in meta.screens:
        return meta.screens[wanted]
    found = meta.types_by_name.get(wanted)
    if found is None:
        offered = ", ".join(sorted(t["name"] for t in meta.types_by_name.values()))
        raise HardStop(
            "user_fixable",
            f"Issue type {issue_type!r} is not available in project {meta.key} "
            f"(offered: {offered}).",
            ["Change the ticket's issue_type", "Retry the export"],
        )
    fields = {
        str(f.get("fieldId") or f.get("key")): f
        for f in client.create_fields(meta.key, found["id"])
    }
    meta.screens[wanted] = IssueTypeMeta(str(found["id"]), str(found["name"]), fields)
    return meta.screens[wanted]


def _sprint_id(client: JiraClient, meta: ProjectMeta, name: str) -> int | None:
    if not meta.sprints_loaded:
        for board in client.scrum_boards(meta.key):
            for sprint in client.sprints(int(board["id"])):
                if sprint.get("state") in ("active", "future"):
                    meta.sprints.setdefault(str(sprint["name"]).lower(), int(sprint["id"]))
        meta.sprints_loaded = True
    return meta.sprints.get(name.lower())


def _account(client: JiraClient, meta: ProjectMeta, who: str) -> str | None:
    if who in meta.users:
        return meta.users[who]
    account: str | None = None
    if "@" in who:
        for user in client.assignable(meta.key, query=who):
            if str(user.get("emailAddress") or "").lower() == who.lower():
                account = str(user["accountId"])
                break
    elif client.assignable(meta.key, account_id=who):
        account = who
    meta.users[who] = account
    return account


def build_fields(
    client: JiraClient,
    meta: ProjectMeta,
    ticket: Ticket,
    description: dict[str, Any],
    marker: str,
) -> tuple[dict[str, Any], list[Fix], int | None]:
    """``(fields, fixes, sprint id to set after create)`` for ``ticket``."""
    type_meta = screen(client, meta, ticket.issue_type or "Task")
    on_screen = type_meta.fields
    fixes: list[Fix] = []
    fields: dict[str, Any] = {
        "project": {"key": meta.key},
        "issuetype": {"id": type_meta.id},
        "summary": ticket.title.replace("\n", " ").strip()[:255],
    }
    if "description" in on_screen:
        fields["description"] = description
    elif ticket.description_html:
        fixes.append(_not_on_screen("description", "Paste the ticket's description into Jira."))
    labels = list(dict.fromkeys([*(ticket.labels or []), marker]))
    if "labels" in on_screen:
        fields["labels"] = [label.replace(" ", "_") for label in labels]
    elif ticket.labels:
        fixes.append(_not_on_screen("labels", "Add the labels " + ", ".join(ticket.labels)))
    if ticket.assignee:
        account = _account(client, meta, ticket.assignee) if "assignee" in on_screen else None
        if account:
            fields["assignee"] = {"accountId": account}
        else:
            fixes.append(
                Fix(
                    "assignee_invalid",
                    f"{ticket.assignee!r} cannot be assigned in {meta.key}; the issue was "
                    "left unassigned. Assign it by hand.",
                )
            )
    if ticket.priority:
        priority = on_screen.get("priority")
        allowed = {
            str(v.get("name", "")).lower(): v for v in (priority or {}).get("allowedValues") or []
        }
        chosen = allowed.get(ticket.priority.lower())
        if priority is None:
            fixes.append(_not_on_screen("priority", f"Set priority {ticket.priority} by hand."))
        elif chosen is not None:
            fields["priority"] = {"id": str(chosen["id"])}
        else:
            default = (priority.get("defaultValue") or {}).get("name") or "the scheme's default"
            fixes.append(
                Fix(
                    "priority_unavailable",
                    f"Priority {ticket.priority!r} is not in the project's scheme; {default} "
                    "was used. Pick the closest priority by hand.",
                )
            )
    sprint_after: int | None = None
    if ticket.sprint:
        sprint_id = _sprint_id(client, meta, ticket.sprint)
        if sprint_id is None:
            fixes.append(
                Fix(
                    "sprint_not_found",
                    f"Sprint {ticket.sprint!r} is not an active or future sprint of "
                    f"{meta.key}; the issue is in no sprint. Move it by hand.",
                )
            )
        elif type_meta.sprint_field:
            fields[type_meta.sprint_field] = sprint_id  # a bare number (jira-api.md 1.10)
        else:
            sprint_after = sprint_id
    return fields, fixes, sprint_after


def _not_on_screen(name: str, action: str) -> Fix:
    return Fix("field_not_on_screen", f"{name} is not on the create screen: {action}")


def fallback_for(field_id: str, ticket: Ticket, message: str) -> Fix:
    """The manual fix when Jira refused ``field_id`` and the create is retried without it."""
    names = {
        "assignee": ("assignee_invalid", f"Jira refused assignee {ticket.assignee!r}"),
        "priority": ("priority_unavailable", f"Jira refused priority {ticket.priority!r}"),
        "labels": ("field_not_on_screen", "Jira refused the labels"),
        "description": ("field_not_on_screen", "Jira refused the description"),
    }
    kind, what = names.get(field_id, ("field_not_on_screen", f"Jira refused field {field_id}"))
    if field_id.startswith("customfield_") and ticket.sprint:
        kind, what = "sprint_not_found", f"Jira refused sprint {ticket.sprint!r}"
    return Fix(kind, f"{what} ({message}); it was left out. Set it by hand.")
