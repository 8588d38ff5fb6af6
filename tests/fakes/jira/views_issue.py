"""Issue endpoints of the fake Jira: create, read, properties, links, attachments, comments,
search (eventually consistent), and moving issues into a sprint (Agile)."""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hashlib
import json
from typing import TYPE_CHECKING, Any

from tests.fakes.jira import render, spec
from tests.fakes.jira.common import JiraError, Req, not_found_issue
from tests.fakes.jira.fields import check_fields
from tests.fakes.jira.jql import JqlError, compile_jql, sort_issues
from tests.fakes.jira.state import Attachment, Issue, Link, Project
from tests.fakes.jira.views_meta import visible_project

if TYPE_CHECKING:
    from tests.fakes.jira.server import FakeJira

Answer = tuple[int, Any]
MAX_PROPERTY_BYTES = 32768


def _ref(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("key") or value.get("id") or "")
    return ""


def visible_issue(fake: FakeJira, req: Req, ref: str) -> tuple[Issue, Project]:
    """The issue if the caller may browse its project; else Jira's 404."""
    issue = fake.state.issue(ref)
    if issue is None:
        raise not_found_issue()
    project = fake.state.projects[issue.project_key]
    if not project.can(req.user.account_id, "BROWSE_PROJECTS"):
        raise not_found_issue()
    return issue, project


def create_issue(fake: FakeJira, req: Req) -> Answer:
    """``POST /rest/api/3/issue``."""
    body = req.body or {}
    fields = dict(body.get("fields") or {})
    update = body.get("update") or {}
    state = fake.state
    project = state.project(_ref(fields.get("project")))
    if project is None or not project.can(req.user.account_id, "BROWSE_PROJECTS"):
        raise JiraError(400, errors={"project": "Specify a valid project ID or key"})
    if not project.can(req.user.account_id, "CREATE_ISSUES"):
        raise JiraError(403, ["You do not have permission to create issues in this project."])
    issue_type_ref = fields.get("issuetype")
    issue_type = None
    if isinstance(issue_type_ref, dict):
        issue_type = project.issue_type(str(issue_type_ref.get("id") or "")) or (
            project.issue_type(str(issue_type_ref.get("name") or ""))
        )
    if issue_type is None:
        raise JiraError(400, errors={"issuetype": "Specify a valid issue type"})
    both = sorted(set(fields) & set(update))
    if both:
        message = "Field '{}' cannot be set in both 'fields' and 'update'"
        raise JiraError(400, errors={f: message.format(f) for f in both})
    for name, operations in update.items():
        # Only the verb form for labels is modelled; other fields go through ``fields``.
        if name == "labels" and isinstance(operations, list):
            fields["labels"] = [
                str(op.get("add") or op.get("set"))
                for op in operations
                if isinstance(op, dict) and (op.get("add") or op.get("set"))
            ]
        elif name not in issue_type.fields:
            fields[name] = operations  # refused below as not on the screen
    checked = check_fields(fields, issue_type, state, project, fake.strict_adf)
    if checked.shape:
        fake.violation(req, "field-shape", checked.shape)
    if checked.adf:
        fake.violation(req, "adf", checked.adf)
        raise JiraError(400, ["INVALID_INPUT"])
    if checked.errors or checked.messages:
        raise JiraError(400, checked.messages, checked.errors)
    values = checked.values
    if "assignee" not in values and "assignee" not in fields:
        values["assignee"] = None if project.allow_unassigned else project.lead
    if "priority" not in values and "priority" in issue_type.fields:
        values["priority"] = project.default_priority_id
    project.counter += 1
    issue = Issue(
        id=state.new_id(),
        key=f"{project.key}-{project.counter}",
        project_key=project.key,
        issue_type_id=issue_type.id,
        fields=values,
        reporter=values.pop("reporter", req.user.account_id),
        created=fake.iso_now(),
        created_at=fake.clock(),
        created_search=state.searches,
        properties={p["key"]: p["value"] for p in body.get("properties") or []},
        sprint_id=checked.sprint_id,
    )
    state.issues[issue.key] = issue
    fake.issue_created(issue)
    link = f"{fake.url}/rest/api/3/issue/{issue.id}"
    return 201, {"id": issue.id, "key": issue.key, "self": link}


def get_issue(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/issue/{issueIdOrKey}?fields=&properties=``."""
    issue, _ = visible_issue(fake, req, req.params["issueIdOrKey"])
    fields = req.csv("fields") or None
    return 200, render.issue_json(fake.url, fake.state, issue, fields, req.csv("properties"))


def assign(fake: FakeJira, req: Req) -> Answer:
    """``PUT /rest/api/3/issue/{issueIdOrKey}/assignee``: ``null`` unassigns, ``"-1"`` is the
    project default."""
    issue, project = visible_issue(fake, req, req.params["issueIdOrKey"])
    if not project.can(req.user.account_id, "ASSIGN_ISSUES"):
        raise JiraError(403, ["You do not have permission to assign issues."])
    account = (req.body or {}).get("accountId")
    if account == "-1":
        account = None if project.allow_unassigned else project.lead
    if account is None:
        if not project.allow_unassigned:
            raise JiraError(400, errors={"assignee": "Issues must be assigned."})
    elif account not in fake.state.users or not project.can(account, "ASSIGNABLE_USER"):
        raise JiraError(400, errors={"assignee": f"User '{account}' cannot be assigned issues."})
    issue.fields["assignee"] = account
    return 204, None


def put_property(fake: FakeJira, req: Req) -> Answer:
    """``PUT /rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}``: 201 new, 200 updated."""
    issue, project = visible_issue(fake, req, req.params["issueIdOrKey"])
    key = req.params["propertyKey"]
    if not project.can(req.user.account_id, "EDIT_ISSUES"):
        raise JiraError(403, ["You do not have permission to edit this issue."])
    if len(key) > 255:
        raise JiraError(400, ["The property key can not be longer than 255 characters."])
    if len(req.raw) > MAX_PROPERTY_BYTES:
        raise JiraError(400, [f"The property value can not be longer than {MAX_PROPERTY_BYTES}."])
    if req.body is None:
        raise JiraError(400, ["The property value has to be a valid, non-empty JSON."])
    existed = key in issue.properties
    issue.properties[key] = req.body
    return (200 if existed else 201), None


def get_property(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}``."""
    issue, _ = visible_issue(fake, req, req.params["issueIdOrKey"])
    key = req.params["propertyKey"]
    if key not in issue.properties:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return 200, {"key": key, "value": issue.properties[key]}


def link_issues(fake: FakeJira, req: Req) -> Answer:
    """``POST /rest/api/3/issueLink``: ``inwardIssue`` becomes the source (the blocker)."""
    body = req.body
    state = fake.state
    if not state.linking_enabled:
        raise JiraError(404, ["Issue linking is currently disabled."])
    link_type = state.link_type(body["type"])
    if link_type is None:
        name = body["type"].get("name") or body["type"].get("id")
        raise JiraError(404, [f"No issue link type with name '{name}' found."])
    inward = state.issue(_ref(body["inwardIssue"]))
    outward = state.issue(_ref(body["outwardIssue"]))
    for issue in (inward, outward):
        if issue is None or not state.projects[issue.project_key].can(
            req.user.account_id, "BROWSE_PROJECTS"
        ):
            raise JiraError(404, ["Issue Does Not Exist"])
    assert inward is not None and outward is not None
    if not state.projects[inward.project_key].can(req.user.account_id, "LINK_ISSUES"):
        raise JiraError(404, ["You do not have the permission to link issues."])
    if inward.key == outward.key:
        raise JiraError(400, ["You cannot link an issue to itself."])
    comment = (body.get("comment") or {}).get("body")
    if comment is not None:
        problems = (
            spec.adf_problems(comment, fake.strict_adf)
            if spec.is_adf_document(comment)
            else ["comment body is not an ADF document"]
        )
        if problems:
            fake.violation(req, "adf", problems)
            raise JiraError(400, ["INVALID_INPUT"])
    duplicate = any(
        (lk.type_id, lk.source, lk.destination) == (link_type.id, inward.key, outward.key)
        for lk in state.links
    )
    if not duplicate:  # "If the link request duplicates a link, ... the link was created"
        state.links.append(Link(state.new_id(), link_type.id, inward.key, outward.key))
    return 201, None


def _multipart_files(req: Req) -> list[tuple[str, str, bytes]]:
    head = f"Content-Type: {req.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.raw)
    files = []
    for part in message.iter_parts() if message.is_multipart() else []:
        if part.get_param("name", header="content-disposition") != "file":
            continue
        filename = part.get_filename() or "attachment"
        payload = part.get_payload(decode=True)  # bytes for a leaf part
        files.append(
            (filename, part.get_content_type(), payload if isinstance(payload, bytes) else b"")
        )
    return files


def add_attachments(fake: FakeJira, req: Req) -> Answer:
    """``POST /rest/api/3/issue/{issueIdOrKey}/attachments`` (multipart, parts named ``file``)."""
    issue, project = visible_issue(fake, req, req.params["issueIdOrKey"])
    if not project.can(req.user.account_id, "CREATE_ATTACHMENTS"):
        raise JiraError(403, ["You do not have permission to create attachments for this issue."])
    files = _multipart_files(req)
    if len(files) > 60 or len(issue.attachments) + len(files) > fake.max_attachments_per_issue:
        raise JiraError(413, ["The number of attachments exceeds the limit."])
    for name, _, content in files:
        if len(content) > fake.max_attachment_bytes:
            limit = fake.max_attachment_bytes
            raise JiraError(413, [f"The file '{name}' is too large: the limit is {limit} bytes."])
    created = []
    for name, mime, content in files:
        # The Attachment schema types ``created`` as an RFC 3339 date-time (unlike issue fields).
        created_at = fake.iso_now(rfc3339=True)
        attachment = Attachment(
            fake.state.new_id(), name, mime, content, req.user.account_id, created_at
        )
        issue.attachments.append(attachment)
        created.append(render.attachment_json(fake.url, fake.state, attachment))
    return 200, created


def add_comment(fake: FakeJira, req: Req) -> Answer:
    """``POST /rest/api/3/issue/{issueIdOrKey}/comment`` (``body`` is ADF)."""
    issue, project = visible_issue(fake, req, req.params["issueIdOrKey"])
    if not project.can(req.user.account_id, "ADD_COMMENTS"):
        raise JiraError(403, ["You do not have permission to comment on this issue."])
    doc = (req.body or {}).get("body")
    if not spec.is_adf_document(doc):
        fake.violation(req, "field-shape", ["comment body is not an ADF document"])
        raise JiraError(400, errors={"comment": "Comment body can not be empty!"})
    problems = spec.adf_problems(doc, fake.strict_adf)
    if problems:
        fake.violation(req, "adf", problems)
        raise JiraError(400, ["INVALID_INPUT"])
    comment = {
        "id": fake.state.new_id(),
        "body": doc,
        "author": render.user_json(fake.url, req.user, full=False),
        "created": fake.iso_now(rfc3339=True),
    }
    comment["self"] = f"{fake.url}/rest/api/3/issue/{issue.id}/comment/{comment['id']}"
    issue.comments.append(comment)
    return 201, comment


def removed_search(fake: FakeJira, req: Req) -> Answer:
    """``GET|POST /rest/api/3/search``: removed (CHANGE-2046), 410 Gone since 2025."""
    fake.violation(req, "removed", ["/rest/api/3/search is removed: use /rest/api/3/search/jql"])
    raise JiraError(
        410,
        [
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
            "API. A full migration guideline is available at "
            "https://developer.atlassian.com/changelog/#CHANGE-2046"
        ],
    )


def search_jql(fake: FakeJira, req: Req) -> Answer:
    """``POST /rest/api/3/search/jql``: lags behind creates (:meth:`FakeJira.set_search_lag`)."""
    body = req.body or {}
    state = fake.state
    try:
        visible = {
            name.lower()
            for p in state.projects.values()
            if p.can(req.user.account_id, "BROWSE_PROJECTS")
            for name in (p.key, p.id, p.name)
        }
        predicate, order = compile_jql(body.get("jql") or "", state, visible)
    except JqlError as exc:
        raise JiraError(400, [str(exc)]) from exc
    state.searches += 1
    reconcile = {str(i) for i in body.get("reconcileIssues") or []}
    found = [
        i
        for i in state.issues.values()
        if state.project(i.project_key) is not None
        and state.projects[i.project_key].can(req.user.account_id, "BROWSE_PROJECTS")
        and (i.id in reconcile or fake.searchable(i))
        and predicate(i)
    ]
    found = sort_issues(found, order)
    fields = body.get("fields") or ["id"]
    limit = 5000 if fields == ["id"] else 100
    size = min(int(body.get("maxResults") or 50), limit)
    # A page token belongs to its query: another JQL with it is refused, as in Jira.
    query_id = hashlib.sha256((body.get("jql") or "").encode()).hexdigest()[:12]
    token = body.get("nextPageToken")
    try:
        start, token_query = 0, query_id
        if token:
            decoded = base64.urlsafe_b64decode(token.encode()).decode()
            offset, _, token_query = decoded.partition(":")
            start = int(offset)
        if token_query != query_id:
            raise ValueError(token)
    except (ValueError, binascii.Error) as exc:
        raise JiraError(400, ["The provided next page token is invalid or expired."]) from exc
    chunk = found[start : start + size]
    properties = (body.get("properties") or [])[:5]
    issues = []
    for issue in chunk:
        if fields == ["id"] and not properties:
            issues.append({"id": issue.id})
        else:
            issues.append(render.issue_json(fake.url, state, issue, fields, properties))
    result: dict[str, Any] = {"issues": issues, "isLast": start + size >= len(found)}
    if not result["isLast"]:
        next_token = f"{start + size}:{query_id}".encode()
        result["nextPageToken"] = base64.urlsafe_b64encode(next_token).decode()
    return 200, result


def search_jql_get(fake: FakeJira, req: Req) -> Answer:
    """``GET /rest/api/3/search/jql``: the same search with its parameters in the query."""
    body: dict[str, Any] = {"jql": req.arg("jql") or ""}
    if req.csv("fields"):
        body["fields"] = req.csv("fields")
    if req.csv("properties"):
        body["properties"] = req.csv("properties")
    if req.csv("reconcileIssues"):
        body["reconcileIssues"] = [int(i) for i in req.csv("reconcileIssues")]
    if req.arg("maxResults"):
        body["maxResults"] = req.int_arg("maxResults", 50)
    if req.arg("nextPageToken"):
        body["nextPageToken"] = req.arg("nextPageToken")
    req.body = body
    return search_jql(fake, req)


def move_to_sprint(fake: FakeJira, req: Req) -> Answer:
    """``POST /rest/agile/1.0/sprint/{sprintId}/issue`` ``{"issues": [...]}`` (204)."""
    state = fake.state
    sprint = state.sprints.get(int(req.params["sprintId"]))
    board = state.boards.get(sprint.board_id) if sprint else None
    if sprint is None or board is None:
        raise JiraError(404, ["Sprint does not exist or you do not have permission to see it."])
    visible_project(fake, req, board.project_key)
    keys = (req.body or {}).get("issues") or []
    if len(keys) > 50:
        raise JiraError(400, ["A maximum of 50 issues can be moved at once."])
    if sprint.state == "closed":
        raise JiraError(400, ["Issues can only be moved to open or active sprints."])
    issues = []
    for key in keys:
        issue, project = visible_issue(fake, req, key)
        if not project.can(req.user.account_id, "SCHEDULE_ISSUES"):
            raise JiraError(403, ["You do not have permission to schedule issues."])
        issues.append(issue)
    for issue in issues:
        issue.sprint_id = sprint.id
    return 204, None


def decode_json(raw: bytes) -> Any:
    """A JSON body, or Jira's 400 for one that does not parse."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise JiraError(400, [f"Unexpected character in JSON: {exc}"]) from exc
