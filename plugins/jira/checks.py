"""Checks against the Jira site: the connection (``/myself``) and a project's readiness for an
export (the seed's *Project Validation*), and the ADF conversion tests of a session."""

from __future__ import annotations

from typing import Any

from app.domain.models import Project
from app.errors import JunctionError
from app.http import HttpError
from plugins.jira import attachments, sessions
from plugins.jira.adf import html_to_adf, validate_adf
from plugins.jira.client import JiraClient, blocks_type, build_http
from plugins.jira.config import jira_config
from plugins.jira.progress import extension
from plugins.jira.sessions import get_session

PERMISSIONS = ["BROWSE_PROJECTS", "CREATE_ISSUES", "LINK_ISSUES", "CREATE_ATTACHMENTS"]


def client_for(project: Project | None) -> JiraClient:
    """A client for the project's (or the global) settings."""
    cfg = jira_config(project.id if project else None)
    factory = extension().get("client_factory")
    return factory(cfg) if factory is not None else JiraClient(cfg, build_http(cfg))


def test_connection(project: Project | None) -> dict[str, Any]:
    """``GET /myself`` with the settings; says which part is wrong when it fails."""
    cfg = jira_config(project.id if project else None)
    client = client_for(project)
    base = {"site_url": cfg.site_url, "email": cfg.email}
    try:
        me = client.myself()
    except HttpError as exc:
        if exc.category == "auth":
            problem, field = (
                "Jira rejected the e-mail and API token: check the account e-mail and create "
                "a new API token if it was revoked.",
                "api_token",
            )
        elif exc.status is None:
            problem, field = (
                f"Jira is unreachable at {cfg.site_url}: check the site URL.",
                "site_url",
            )
        elif exc.category == "not_found":
            problem, field = (
                f"{cfg.site_url} does not answer as a Jira Cloud site: check the site URL.",
                "site_url",
            )
        else:
            problem, field = f"Jira answered {exc.status}: {exc.remote_message or exc}", "site_url"
        return {**base, "ok": False, "problem_field": field, "message": problem}
    return {
        **base,
        "ok": True,
        "problem_field": None,
        "message": f"Connected as {me.get('displayName')}.",
        "account_id": me.get("accountId"),
        "display_name": me.get("displayName"),
    }


def _warning(kind: str, message: str, blocking: bool = False) -> dict[str, Any]:
    return {"type": kind, "message": message, "severity": "error" if blocking else "warning"}


def validate_project(
    project: Project | None, key: str, requirements: dict[str, bool]
) -> dict[str, Any]:
    """The seed's ``ProjectValidationResponse`` for Jira project ``key``."""
    client = client_for(project)
    out: dict[str, Any] = {
        "project_key": key,
        "project_name": "",
        "validation_status": "invalid",
        "can_create_tasks": False,
        "can_view_project": False,
        "available_sprints": [],
        "team_members": [],
        "priority_levels": [],
        "issue_types": [],
        "validation_warnings": [],
        "blocking_issues": [],
    }
    warnings, blocking = out["validation_warnings"], out["blocking_issues"]
    try:
        found = client.project(key)
    except HttpError as exc:
        if exc.category in ("not_found", "permission"):
            blocking.append(f"Project {key} does not exist or this account cannot browse it.")
            return out
        if exc.category == "auth":
            blocking.append("Jira rejected the credentials; check them with test-connection.")
            return out
        raise exc.to_junction_error() from exc
    try:
        _fill(client, key, found, out, requirements)
    except HttpError as exc:
        raise exc.to_junction_error() from exc
    out["validation_status"] = "invalid" if blocking else "valid"
    del warnings
    return out


def _fill(
    client: JiraClient,
    key: str,
    found: dict[str, Any],
    out: dict[str, Any],
    requirements: dict[str, bool],
) -> None:
    warnings, blocking = out["validation_warnings"], out["blocking_issues"]
    out["project_name"] = found.get("name") or key
    perms = client.my_permissions(key, PERMISSIONS)
    out["can_view_project"] = perms["BROWSE_PROJECTS"]
    out["can_create_tasks"] = perms["CREATE_ISSUES"]
    for name in ("BROWSE_PROJECTS", "CREATE_ISSUES"):
        if not perms[name]:
            blocking.append(f"The account lacks the {name} permission in {key}.")
    for name, what in (("LINK_ISSUES", "dependency links"), ("CREATE_ATTACHMENTS", "attachments")):
        if not perms[name]:
            warnings.append(_warning("permission", f"No {name} permission: {what} will fail."))
    # createmeta needs Create issues: without it there is no screen to read.
    types = client.issue_types(key) if perms["CREATE_ISSUES"] else []
    out["issue_types"] = [{"id": str(t["id"]), "name": t["name"]} for t in types]
    task = next((t for t in types if str(t["name"]).lower() == "task"), types[0] if types else None)
    fields: dict[str, dict[str, Any]] = {}
    if task is None and perms["CREATE_ISSUES"]:
        blocking.append(f"Project {key} offers no issue type to create.")
    elif task is not None:
        fields = {str(f.get("fieldId")): f for f in client.create_fields(key, str(task["id"]))}
        known = {"project", "issuetype", "summary", "description", "reporter", "labels"}
        required = [
            f["name"]
            for fid, f in fields.items()
            if f.get("required") and fid not in known and not f.get("hasDefaultValue")
        ]
        if required:
            blocking.append(
                f"The {task['name']} create screen requires fields Junction does not fill: "
                + ", ".join(sorted(required))
            )
    priority = fields.get("priority")
    default_id = str((priority or {}).get("defaultValue", {}).get("id", ""))
    out["priority_levels"] = [
        {"id": str(p["id"]), "name": p["name"], "is_default": str(p["id"]) == default_id}
        for p in (priority or {}).get("allowedValues") or []
    ]
    if requirements.get("requires_priority_levels") and not out["priority_levels"]:
        warnings.append(_warning("priority", "Priority is not on the create screen."))
    users = client.assignable(key, query="")
    out["team_members"] = [
        {
            "account_id": u["accountId"],
            "display_name": u.get("displayName"),
            "email": u.get("emailAddress"),
        }
        for u in users
        if u.get("active", True)
    ]
    if requirements.get("requires_assignee") and not out["team_members"]:
        warnings.append(_warning("assignee", "Nobody can be assigned issues in this project."))
    sprints = []
    for board in client.scrum_boards(key):
        for sprint in client.sprints(int(board["id"])):
            sprints.append(
                {"id": str(sprint["id"]), "name": sprint["name"], "state": sprint["state"]}
            )
    out["available_sprints"] = sprints
    if requirements.get("requires_sprint_assignment") and not sprints:
        warnings.append(_warning("sprint", "No active or future sprint on a scrum board."))
    if blocks_type(client.link_types()) is None:
        warnings.append(_warning("links", "No 'Blocks' link type: dependencies will not link."))


def adf_preview(html: str) -> dict[str, Any]:
    """The converter's full answer for one HTML fragment."""
    return html_to_adf(html).to_dict()


def test_adf_conversion(
    session_id: str, ticket_ids: list[str], include_attachments: bool, limit: int | None = None
) -> dict[str, Any]:
    """The seed's ``AdfTestResponse``: fresh conversions, attachments checked, not uploaded."""
    session = get_session(session_id)
    tickets = sessions.tickets_of(session)
    if ticket_ids:
        wanted = [sessions.get_ticket(session, t) for t in ticket_ids]
        tickets = [t for t in tickets if t.id in {w.id for w in wanted}]
    if limit is None:
        try:
            limit = jira_config(session.project_id).attachment_max_bytes
        except JunctionError:
            from plugins.jira.config import DEFAULT_ATTACHMENT_MAX_BYTES

            limit = DEFAULT_ATTACHMENT_MAX_BYTES
    results = []
    for ticket in tickets:
        conversion = html_to_adf(ticket.description_html or "")
        problems = validate_adf(conversion.adf)
        result: dict[str, Any] = {
            "ticket_id": ticket.id,
            "ticket_title": ticket.title,
            "status": "failed" if problems else "passed",
            "adf_size_bytes": conversion.adf_size_bytes,
            "character_reduction": conversion.character_reduction,
            "error_message": "; ".join(problems[:3]) if problems else None,
            "suggested_fix": "Simplify the description's HTML." if problems else None,
            "warnings": [w.to_dict() for w in conversion.warnings],
            "attachment_upload_tested": False,
            "attachment_upload_status": None,
        }
        if include_attachments:
            status, why = attachments.check_uploadable(ticket, limit)
            result["attachment_upload_tested"] = status != "skipped"
            result["attachment_upload_status"] = status
            if status == "failed":
                result["status"] = "failed"
                result["error_message"] = why
                result["suggested_fix"] = "Upload the attachment again (smaller, readable)."
        results.append(result)
    passed = sum(1 for r in results if r["status"] == "passed")
    return {
        "session_id": session.id,
        "tickets_tested": len(results),
        "all_passed": passed == len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "results": results,
    }
