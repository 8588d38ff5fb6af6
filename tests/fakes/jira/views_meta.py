"""Read-only endpoints of the fake Jira: who am I, projects, permissions, create metadata,
users, priorities, link types, and the Agile boards and sprints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.jira import render
from tests.fakes.jira.common import JiraError, Req
from tests.fakes.jira.state import FIELDS, PERMISSIONS, Project

if TYPE_CHECKING:
    from tests.fakes.jira.server import FakeJira

Answer = tuple[int, Any]


def no_project(ref: str) -> JiraError:
    """Jira's 404 for a project that does not exist or cannot be browsed."""
    return JiraError(404, [f"No project could be found with key '{ref}'."])


def visible_project(fake: FakeJira, req: Req, ref: str | None, status: int = 404) -> Project:
    """The project if the caller may browse it; else Jira's not-found (404 or given status)."""
    project = fake.state.project(ref or "")
    if project is None or not project.can(req.user.account_id, "BROWSE_PROJECTS"):
        error = no_project(ref or "")
        error.status = status
        raise error
    return project


def page(items: list[Any], start: int, size: int) -> dict[str, Any]:
    """Jira's offset page envelope."""
    chunk = items[start : start + size]
    return {
        "startAt": start,
        "maxResults": size,
        "total": len(items),
        "isLast": start + len(chunk) >= len(items),
        "values": chunk,
    }


def myself(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/myself``."""
    data = render.user_json(fake.url, req.user)
    data["emailAddress"] = req.user.email  # always visible to its owner
    return 200, data


def get_project(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/project/{projectIdOrKey}``: 404 when missing OR not browsable."""
    project = visible_project(fake, req, req.params["projectIdOrKey"])
    return 200, render.project_json(fake.url, fake.state, project)


def my_permissions(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/mypermissions?projectKey=&permissions=``."""
    keys = req.csv("permissions")
    unknown = [k for k in keys if k not in PERMISSIONS]
    if not keys or unknown:
        raise JiraError(400, [f"Invalid permission keys: {', '.join(unknown) or '(none)'}."])
    ref = req.arg("projectId") or req.arg("projectKey")
    if ref is not None:
        projects = [visible_project(fake, req, ref)]
    else:
        projects = [p for p in fake.state.projects.values() if not p.deleted]
    result = {}
    for key in keys:
        pid, name = PERMISSIONS[key]
        result[key] = {
            "id": pid,
            "key": key,
            "name": name,
            "type": "PROJECT",
            "description": f"Ability to {name.lower()}.",
            "havePermission": any(p.can(req.user.account_id, key) for p in projects),
        }
    return 200, {"permissions": result}


def _creatable(fake: FakeJira, req: Req) -> Project:
    project = visible_project(fake, req, req.params["projectIdOrKey"])
    if not project.can(req.user.account_id, "CREATE_ISSUES"):
        raise JiraError(403, ["You do not have permission to create issues in this project."])
    return project


def createmeta_issue_types(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes`` (paged)."""
    project = _creatable(fake, req)
    start, size = req.int_arg("startAt", 0), req.int_arg("maxResults", 50)
    types = [render.issue_type_json(fake.url, t) for t in project.issue_types]
    return 200, {
        "issueTypes": types[start : start + size],
        "startAt": start,
        "maxResults": size,
        "total": len(types),
    }


def createmeta_fields(fake: FakeJira, req: Req) -> Answer:
    """``GET .../issuetypes/{issueTypeId}``: the create screen's fields (paged)."""
    project = _creatable(fake, req)
    issue_type = project.issue_type(req.params["issueTypeId"])
    if issue_type is None or issue_type.id != req.params["issueTypeId"]:
        raise JiraError(404, ["Issue type not found or not visible in this project."])
    start, size = req.int_arg("startAt", 0), req.int_arg("maxResults", 50)
    fields = [
        render.field_meta_json(fake.url, fake.state, project, issue_type, f)
        for f in issue_type.fields
    ]
    return 200, {
        "fields": fields[start : start + size],
        "startAt": start,
        "maxResults": size,
        "total": len(fields),
    }


def _matches(user: Any, query: str) -> bool:
    query = query.lower()
    words = [user.display_name.lower(), *user.display_name.lower().split()]
    if user.email_visible:
        words.append(user.email.lower())
    return any(w.startswith(query) for w in words)


def user_search(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/user/search?query=|accountId=``."""
    query, account = req.arg("query"), req.arg("accountId")
    if query is None and account is None and req.arg("property") is None:
        raise JiraError(400, ["One of 'query', 'accountId' or 'property' must be provided."])
    users = [
        u
        for u in fake.state.users.values()
        if u.active
        and (account is None or u.account_id == account)
        and (query is None or _matches(u, query))
    ]
    start, size = req.int_arg("startAt", 0), req.int_arg("maxResults", 50)
    return 200, [render.user_json(fake.url, u, full=False) for u in users[start : start + size]]


def assignable_users(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/user/assignable/search?project=&query=|accountId=``."""
    query, account = req.arg("query"), req.arg("accountId")
    if query is not None and account is not None:
        raise JiraError(400, ["Only one of 'query' and 'accountId' can be provided."])
    ref = req.arg("project")
    if ref is None and req.arg("issueKey"):
        issue = fake.state.issue(req.arg("issueKey") or "")
        ref = issue.project_key if issue else req.arg("issueKey")
    if ref is None:
        raise JiraError(400, ["A project, issue key or issue id has to be provided."])
    project = visible_project(fake, req, ref)
    users = [
        u
        for u in fake.state.users.values()
        if u.active
        and project.can(u.account_id, "ASSIGNABLE_USER")
        and (account is None or u.account_id == account)
        and (query is None or _matches(u, query))
    ]
    start, size = req.int_arg("startAt", 0), req.int_arg("maxResults", 50)
    return 200, [render.user_json(fake.url, u, full=False) for u in users[start : start + size]]


def priority_search(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/priority/search`` (``projectId`` narrows to those projects' schemes)."""
    state = fake.state
    ids = list(state.priorities)
    default: str | None = fake.default_priority_id  # a project may have no default
    project_ids = req.csv("projectId")
    if project_ids:
        projects = [visible_project(fake, req, p, status=400) for p in project_ids]
        ids = [p for p in ids if any(p in proj.priority_ids for proj in projects)]
        default = projects[0].default_priority_id
    if req.csv("id"):
        ids = [p for p in ids if p in req.csv("id")]
    name = req.arg("priorityName")
    if name:
        ids = [p for p in ids if name.lower() in state.priorities[p].name.lower()]
    if req.arg("onlyDefault") == "true":
        ids = [p for p in ids if p == default]
    values = [render.priority_json(fake.url, state.priorities[p], default) for p in ids]
    start, size = req.int_arg("startAt", 0), req.int_arg("maxResults", 50)
    body = page(values, start, size)
    body["self"] = f"{fake.url}/rest/api/3/priority/search"
    return 200, body


def fields(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/field``: every field of the site (how the Sprint field is found)."""
    found = []
    for field_id, (name, schema) in FIELDS.items():
        custom = field_id.startswith("customfield_")
        found.append(
            {
                "id": field_id,
                "key": field_id,
                "name": name,
                "custom": custom,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{schema['customId']}]", name] if custom else [field_id],
                "schema": dict(schema),
            }
        )
    return 200, found


def link_types(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/issueLinkType`` (404 when linking is disabled on the site)."""
    if not fake.state.linking_enabled:
        raise JiraError(404, ["Issue linking is currently disabled."])
    types = [render.link_type_json(fake.url, t) for t in fake.state.link_types.values()]
    return 200, {"issueLinkTypes": types}


def boards(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/agile/1.0/board?projectKeyOrId=&type=``."""
    ref = req.arg("projectKeyOrId")
    project = visible_project(fake, req, ref, status=400) if ref else None
    kinds = req.csv("type")
    values = []
    for board in fake.state.boards.values():
        owner = fake.state.project(board.project_key)
        if owner is None or not owner.can(req.user.account_id, "BROWSE_PROJECTS"):
            continue
        if (project and owner.key != project.key) or (kinds and board.type not in kinds):
            continue
        values.append(
            {
                "id": board.id,
                "self": f"{fake.url}/rest/agile/1.0/board/{board.id}",
                "name": board.name,
                "type": board.type,
                "location": {
                    "projectId": int(owner.id),
                    "projectKey": owner.key,
                    "projectName": owner.name,
                    "displayName": f"{owner.name} ({owner.key})",
                    "projectTypeKey": "software",
                    "name": f"{owner.name} ({owner.key})",
                },
            }
        )
    return 200, page(values, req.int_arg("startAt", 0), req.int_arg("maxResults", 50))


def board_sprints(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/agile/1.0/board/{boardId}/sprint?state=active,future``."""
    board = fake.state.boards.get(int(req.params["boardId"]))
    owner = fake.state.project(board.project_key) if board else None
    if board is None or owner is None or not owner.can(req.user.account_id, "BROWSE_PROJECTS"):
        raise JiraError(404, ["Board does not exist or you do not have permission to see it."])
    if board.type != "scrum":
        raise JiraError(400, ["The board does not support sprints"])
    states = req.csv("state")
    bad = [s for s in states if s not in ("future", "active", "closed")]
    if bad:
        raise JiraError(400, [f"Sprint state '{bad[0]}' is not valid."])
    values = [
        render.sprint_json(fake.url, s)
        for s in fake.state.sprints.values()
        if s.board_id == board.id and (not states or s.state in states)
    ]
    return 200, page(values, req.int_arg("startAt", 0), req.int_arg("maxResults", 50))
