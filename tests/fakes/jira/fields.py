"""How the fake Jira checks the ``fields`` of a create, as Jira does.

The OpenAPI documents leave ``fields`` open (``additionalProperties: {}``, jira-api.md 4 caveat
2), so Jira's own rules are applied here: the create screen (createmeta) says which fields may be
set and which are required; each value must have the field's shape (ADF for ``description``, a
bare number for the Sprint field, ``{"accountId": ...}`` for users...). A wrong *shape* is a client
bug and is also recorded as a contract violation; a wrong *value* (an unknown user, a priority
outside the scheme, a closed sprint) is data, answered the same way but not a violation, because
the exporter is expected to fall back (jira-api.md 1.1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.jira import spec
from tests.fakes.jira.state import (
    ADF_FIELDS,
    FIELDS,
    SPRINT_FIELD,
    IssueType,
    JiraState,
    Project,
)

NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


@dataclass
class Checked:
    """The outcome of checking ``fields``: resolved values, Jira's errors, contract breaches."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    shape: list[str] = field(default_factory=list)  # violations of kind "field-shape"
    adf: list[str] = field(default_factory=list)  # violations of kind "adf"
    sprint_id: int | None = None


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _user_ref(value: Any, state: JiraState, out: Checked, name: str) -> str | None:
    if not isinstance(value, dict) or not (value.get("accountId") or value.get("id")):
        out.errors[name] = "Specify a valid value for the user: an object with 'accountId'."
        out.shape.append(f"{name}: expected {{'accountId': ...}}, got {value!r}")
        return None
    account = str(value.get("accountId") or value.get("id"))
    if account not in state.users or not state.users[account].active:
        out.errors[name] = "Specified user does not exist or you do not have required permissions"
        return None
    return account


def _check_value(
    name: str, value: Any, state: JiraState, project: Project, out: Checked, strict_adf: bool
) -> None:
    if name == "summary":
        if not isinstance(value, str):
            out.errors[name] = "Operation value must be a string"
            out.shape.append(f"summary: expected a string, got {type(value).__name__}")
        elif "\n" in value or "\r" in value:
            out.errors[name] = "The summary is invalid because it contains newline characters."
        elif len(value) > 255:
            out.errors[name] = "Summary must be less than 255 characters."
        else:
            out.values[name] = value
    elif name in ADF_FIELDS:
        if value is None:
            out.values[name] = None
        elif not spec.is_adf_document(value):
            out.errors[name] = NOT_ADF
            out.shape.append(f"{name}: {NOT_ADF}")
        else:
            problems = spec.adf_problems(value, strict=strict_adf)
            if problems:
                out.adf.extend(f"{name}{p}" for p in problems)
            else:
                out.values[name] = value
    elif name == "labels":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            out.errors[name] = "Operation value must be an array of strings"
            out.shape.append(f"labels: expected a list of strings, got {value!r}")
        else:
            bad = next((v for v in value if not v or any(c.isspace() for c in v)), None)
            if bad is not None:
                out.errors[name] = f"The label '{bad}' contains spaces which is invalid."
            elif any(len(v) > 255 for v in value):
                out.errors[name] = "The label must not exceed 255 characters."
            else:
                out.values[name] = list(dict.fromkeys(value))
    elif name == "assignee":
        if value is None:
            if project.allow_unassigned:
                out.values[name] = None
            else:
                out.errors[name] = "Issues must be assigned."
            return
        account = _user_ref(value, state, out, name)
        if account is not None:
            if project.can(account, "ASSIGNABLE_USER"):
                out.values[name] = account
            else:
                display = state.users[account].display_name
                out.errors[name] = f"User '{display}' cannot be assigned issues."
    elif name == "reporter":
        account = _user_ref(value, state, out, name)
        if account is not None:
            out.values[name] = account
    elif name == "priority":
        if not isinstance(value, dict) or not (value.get("id") or value.get("name")):
            out.errors[name] = "Specify the Priority (id or name) in the string format"
            out.shape.append(f"priority: expected {{'id'}} or {{'name'}}, got {value!r}")
            return
        found = next(
            (
                p
                for p in state.priorities.values()
                if p.id == str(value.get("id") or "")
                or p.name.lower() == str(value.get("name") or "").lower()
            ),
            None,
        )
        if found is None or found.id not in project.priority_ids:
            out.errors[name] = "The priority selected is invalid."
        else:
            out.values[name] = found.id
    elif name == SPRINT_FIELD:
        _check_sprint(value, state, out)
    elif name == "duedate":
        try:
            dt.date.fromisoformat(value)
            out.values[name] = value
        except (TypeError, ValueError):
            out.errors[name] = f"Error parsing date string: {value}"
    else:
        if value is not None and not isinstance(value, str):
            out.errors[name] = "Operation value must be a string"
            out.shape.append(f"{name}: expected a string, got {type(value).__name__}")
        else:
            out.values[name] = value


def _check_sprint(value: Any, state: JiraState, out: Checked) -> None:
    if value is None:
        return
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if number is None:
        # Jira's exact answer to an object or array (jira-api.md 1.10).
        out.messages.append("Number value expected as the Sprint id.")
        out.errors[SPRINT_FIELD] = "The Sprint (id) must be a number"
        out.shape.append(f"{SPRINT_FIELD}: the Sprint is written as a bare id, got {value!r}")
        return
    sprint = state.sprints.get(number)
    if sprint is None:
        out.errors[SPRINT_FIELD] = f"Sprint with id {number} does not exist."
    elif sprint.state == "closed":
        out.errors[SPRINT_FIELD] = "Issues can only be assigned to active or future sprints."
    else:
        out.sprint_id = number


def check_fields(
    fields: dict[str, Any],
    issue_type: IssueType,
    state: JiraState,
    project: Project,
    strict_adf: bool = True,
) -> Checked:
    """Check a create's ``fields`` (without ``project``/``issuetype``) against the screen."""
    out = Checked()
    screen = issue_type.fields
    for name, value in fields.items():
        if name in ("project", "issuetype"):
            continue
        if name not in screen:
            out.errors[name] = (
                f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
            )
            continue
        _check_value(name, value, state, project, out, strict_adf)
    for name, meta in screen.items():
        if name in ("project", "issuetype") or not meta.required:
            continue
        if meta.default_value is None and not _present(fields.get(name)) and name not in out.errors:
            label = FIELDS[name][0]
            out.errors[name] = (
                "You must specify a summary of the issue."
                if name == "summary"
                else f"{label} is required."
            )
    return out
