"""Jira's JSON shapes for the fake's objects (checked against the documents in the tests)."""

from __future__ import annotations

from typing import Any

from tests.fakes.jira.state import (
    FIELDS,
    SPRINT_FIELD,
    Attachment,
    Issue,
    IssueType,
    JiraState,
    LinkType,
    Priority,
    Project,
    Sprint,
    User,
)


def avatars(base: str, kind: str, ref: str) -> dict[str, str]:
    """The four avatar sizes Jira lists."""
    return {f"{n}x{n}": f"{base}/secure/{kind}avatar?size={n}&id={ref}" for n in (16, 24, 32, 48)}


def user_json(base: str, user: User, *, full: bool = True) -> dict[str, Any]:
    """A ``User`` (e-mail only when the profile shows it)."""
    data: dict[str, Any] = {
        "self": f"{base}/rest/api/3/user?accountId={user.account_id}",
        "accountId": user.account_id,
        "accountType": "atlassian",
        "displayName": user.display_name,
        "active": user.active,
        "avatarUrls": avatars(base, "user", user.account_id),
        "timeZone": user.time_zone,
    }
    if user.email_visible:
        data["emailAddress"] = user.email
    if full:
        data["locale"] = "en_US"
    return data


def priority_json(base: str, priority: Priority, default_id: str | None = None) -> dict[str, Any]:
    """A ``Priority``; ``isDefault`` when the scheme's default is known."""
    data: dict[str, Any] = {
        "self": f"{base}/rest/api/3/priority/{priority.id}",
        "id": priority.id,
        "name": priority.name,
        "iconUrl": f"{base}/images/icons/priorities/{priority.name.lower()}.svg",
        "statusColor": priority.color,
        "description": priority.description or priority.name,
    }
    if default_id is not None:
        data["isDefault"] = priority.id == default_id
    return data


def issue_type_json(base: str, issue_type: IssueType) -> dict[str, Any]:
    """An issue type as createmeta and the project list it."""
    return {
        "self": f"{base}/rest/api/3/issuetype/{issue_type.id}",
        "id": issue_type.id,
        "name": issue_type.name,
        "description": f"A {issue_type.name.lower()}.",
        "iconUrl": f"{base}/images/icons/issuetypes/{issue_type.name.lower()}.svg",
        "subtask": issue_type.subtask,
        "hierarchyLevel": issue_type.hierarchy_level,
    }


def project_json(base: str, state: JiraState, project: Project) -> dict[str, Any]:
    """A ``Project`` (``issueTypes`` included, as Jira expands them by default)."""
    lead = state.users.get(project.lead)
    data: dict[str, Any] = {
        "self": f"{base}/rest/api/3/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
        "simplified": project.simplified,
        "style": "next-gen" if project.simplified else "classic",
        "isPrivate": False,
        "assigneeType": "UNASSIGNED" if project.allow_unassigned else "PROJECT_LEAD",
        "avatarUrls": avatars(base, "project", project.id),
        "issueTypes": [issue_type_json(base, t) for t in project.issue_types],
        "properties": {},
    }
    if lead is not None:
        data["lead"] = user_json(base, lead, full=False)
    return data


def project_ref(base: str, project: Project) -> dict[str, Any]:
    """The short project form inside an issue."""
    return {
        "self": f"{base}/rest/api/3/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
        "simplified": project.simplified,
    }


def field_meta_json(
    base: str, state: JiraState, project: Project, issue_type: IssueType, field_id: str
) -> dict[str, Any]:
    """A ``FieldCreateMetadata`` for one field of the create screen."""
    meta = issue_type.fields[field_id]
    name, schema = FIELDS[field_id]
    data: dict[str, Any] = {
        "fieldId": field_id,
        "key": field_id,
        "name": name,
        "required": meta.required,
        "schema": dict(schema),
        "operations": ["set"] if schema["type"] != "array" else ["add", "set", "remove"],
        "hasDefaultValue": False,
    }
    allowed = meta.allowed_values
    if field_id == "priority":
        allowed = [priority_json(base, state.priorities[p]) for p in project.priority_ids]
        default = project.default_priority_id
        if default in state.priorities:
            data["defaultValue"] = priority_json(base, state.priorities[default])
            data["hasDefaultValue"] = True
    elif field_id == "issuetype":
        allowed = [issue_type_json(base, issue_type)]
    elif field_id == "project":
        allowed = [project_ref(base, project)]
    elif field_id in ("assignee", "reporter"):
        data["autoCompleteUrl"] = f"{base}/rest/api/3/user/search?query="
    if allowed is not None:
        data["allowedValues"] = allowed
    if meta.default_value is not None:
        data["defaultValue"], data["hasDefaultValue"] = meta.default_value, True
    return data


def sprint_json(base: str, sprint: Sprint) -> dict[str, Any]:
    """An Agile ``Sprint``."""
    data: dict[str, Any] = {
        "id": sprint.id,
        "self": f"{base}/rest/agile/1.0/sprint/{sprint.id}",
        "state": sprint.state,
        "name": sprint.name,
        "originBoardId": sprint.board_id,
        "goal": sprint.goal,
    }
    if sprint.start:
        data["startDate"] = sprint.start
    if sprint.end:
        data["endDate"] = sprint.end
    return data


def link_type_json(base: str, link_type: LinkType) -> dict[str, Any]:
    """An ``IssueLinkType``."""
    return {
        "id": link_type.id,
        "name": link_type.name,
        "inward": link_type.inward,
        "outward": link_type.outward,
        "self": f"{base}/rest/api/3/issueLinkType/{link_type.id}",
    }


def attachment_json(base: str, state: JiraState, attachment: Attachment) -> dict[str, Any]:
    """An ``Attachment``."""
    data: dict[str, Any] = {
        "self": f"{base}/rest/api/3/attachment/{attachment.id}",
        "id": attachment.id,
        "filename": attachment.filename,
        "mimeType": attachment.mime_type,
        "size": attachment.size,
        "created": attachment.created,
        "content": f"{base}/rest/api/3/attachment/content/{attachment.id}",
    }
    author = state.users.get(attachment.author)
    if author is not None:
        data["author"] = user_json(base, author, full=False)
    return data


def _linked(base: str, issue: Issue) -> dict[str, Any]:
    return {
        "id": issue.id,
        "key": issue.key,
        "self": f"{base}/rest/api/3/issue/{issue.id}",
        "fields": {"summary": issue.fields.get("summary", "")},
    }


def issue_links_json(base: str, state: JiraState, issue: Issue) -> list[dict[str, Any]]:
    """``issuelinks`` as seen from ``issue``: on the source the other end is ``outwardIssue``."""
    found = []
    for link in state.links:
        if issue.key not in (link.source, link.destination):
            continue
        link_type = state.link_types[link.type_id]
        entry: dict[str, Any] = {
            "id": link.id,
            "self": f"{base}/rest/api/3/issueLink/{link.id}",
            "type": link_type_json(base, link_type),
        }
        if link.source == issue.key and link.destination in state.issues:
            entry["outwardIssue"] = _linked(base, state.issues[link.destination])
        elif link.source in state.issues:
            entry["inwardIssue"] = _linked(base, state.issues[link.source])
        found.append(entry)
    return found


def all_fields(base: str, state: JiraState, issue: Issue) -> dict[str, Any]:
    """Every field of an issue, rendered."""
    project = state.projects[issue.project_key]
    issue_type = project.issue_type(issue.issue_type_id)
    fields: dict[str, Any] = {
        k: v for k, v in issue.fields.items() if k not in ("assignee", "priority", SPRINT_FIELD)
    }
    assignee = state.users.get(issue.fields.get("assignee") or "")
    reporter = state.users.get(issue.reporter)
    priority = state.priorities.get(issue.fields.get("priority") or "")
    sprint = state.sprints.get(issue.sprint_id) if issue.sprint_id is not None else None
    fields.update(
        {
            "summary": issue.fields.get("summary", ""),
            "description": issue.fields.get("description"),
            "labels": issue.fields.get("labels", []),
            "assignee": user_json(base, assignee, full=False) if assignee else None,
            "reporter": user_json(base, reporter, full=False) if reporter else None,
            "priority": priority_json(base, priority) if priority else None,
            "issuetype": issue_type_json(base, issue_type) if issue_type else None,
            "project": project_ref(base, project),
            "status": {"name": "To Do", "id": "10000", "statusCategory": {"key": "new"}},
            "created": issue.created,
            "updated": issue.created,
            "issuelinks": issue_links_json(base, state, issue),
            "attachment": [attachment_json(base, state, a) for a in issue.attachments],
            SPRINT_FIELD: (
                [{**sprint_json(base, sprint), "boardId": sprint.board_id}] if sprint else None
            ),
        }
    )
    return fields


def issue_json(
    base: str,
    state: JiraState,
    issue: Issue,
    fields: list[str] | None,
    properties: list[str] | None = None,
) -> dict[str, Any]:
    """An ``IssueBean``; ``fields`` None means all, ``["id"]`` means none."""
    data: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog",
        "id": issue.id,
        "key": issue.key,
        "self": f"{base}/rest/api/3/issue/{issue.id}",
    }
    rendered = all_fields(base, state, issue)
    wanted = set(fields) if fields is not None else {"*all"}
    if not wanted <= {"id"}:
        if wanted & {"*all", "*navigable"}:
            chosen = {k: v for k, v in rendered.items() if f"-{k}" not in wanted}
        else:
            chosen = {k: rendered[k] for k in wanted if k in rendered}
        data["fields"] = chosen
    if properties:
        keys = issue.properties if "*all" in properties else properties
        data["properties"] = {k: issue.properties[k] for k in keys if k in issue.properties}
    return data
