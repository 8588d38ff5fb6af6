"""The data of the fake Jira: users, projects and their screens, issues, links, boards, sprints.

Plain dataclasses; the server holds one :class:`JiraState` behind a lock. Ids are strings as in
Jira's REST answers (board and sprint ids are integers there, as in the Agile API).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

# Every project permission the fake knows, with Jira's ids and names.
PERMISSIONS: dict[str, tuple[str, str]] = {
    "BROWSE_PROJECTS": ("10", "Browse Projects"),
    "CREATE_ISSUES": ("11", "Create Issues"),
    "EDIT_ISSUES": ("12", "Edit Issues"),
    "ASSIGN_ISSUES": ("13", "Assign Issues"),
    "ASSIGNABLE_USER": ("17", "Assignable User"),
    "LINK_ISSUES": ("21", "Link Issues"),
    "CREATE_ATTACHMENTS": ("19", "Create Attachments"),
    "ADD_COMMENTS": ("15", "Add Comments"),
    "SCHEDULE_ISSUES": ("28", "Schedule Issues"),
    "RESOLVE_ISSUES": ("14", "Resolve Issues"),
    "DELETE_ISSUES": ("16", "Delete Issues"),
    "TRANSITION_ISSUES": ("46", "Transition Issues"),
}
ALL_PERMISSIONS = frozenset(PERMISSIONS)
SPRINT_CUSTOM = "com.pyxis.greenhopper.jira:gh-sprint"
SPRINT_FIELD = "customfield_10020"

# Field catalogue: id -> (name, schema). Screens pick from it.
FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    "summary": ("Summary", {"type": "string", "system": "summary"}),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}),
    "project": ("Project", {"type": "project", "system": "project"}),
    "description": ("Description", {"type": "string", "system": "description"}),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}),
    "assignee": ("Assignee", {"type": "user", "system": "assignee"}),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}),
    "priority": ("Priority", {"type": "priority", "system": "priority"}),
    "duedate": ("Due date", {"type": "date", "system": "duedate"}),
    "environment": ("Environment", {"type": "string", "system": "environment"}),
    SPRINT_FIELD: (
        "Sprint",
        {"type": "array", "items": "json", "custom": SPRINT_CUSTOM, "customId": 10020},
    ),
    "customfield_10030": (
        "Team",
        {
            "type": "string",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
            "customId": 10030,
        },
    ),
}
DEFAULT_SCREEN = (
    "summary",
    "issuetype",
    "project",
    "description",
    "labels",
    "assignee",
    "reporter",
    "priority",
    "duedate",
    SPRINT_FIELD,
)
REQUIRED_BY_DEFAULT = frozenset({"summary", "issuetype", "project"})
# Fields holding ADF in REST v3 (a ``textarea`` custom field would too).
ADF_FIELDS = frozenset({"description", "environment"})


@dataclass
class User:
    """An Atlassian account. ``tokens`` are its API tokens; revoking one removes it."""

    account_id: str
    email: str
    display_name: str
    tokens: set[str] = field(default_factory=set)
    active: bool = True
    email_visible: bool = True
    time_zone: str = "Europe/Paris"


@dataclass
class Priority:
    """A priority (global objects; each project's scheme picks some)."""

    id: str
    name: str
    color: str = "#ffab00"
    description: str = ""


@dataclass
class LinkType:
    """An issue link type: ``source <outward> destination``, ``destination <inward> source``."""

    id: str
    name: str
    inward: str
    outward: str


@dataclass
class FieldMeta:
    """One field on an issue type's create screen."""

    field_id: str
    required: bool = False
    default_value: Any = None
    allowed_values: list[Any] | None = None  # None: derived (priority, issuetype, project)


@dataclass
class IssueType:
    """An issue type of a project, with its create screen (``fields``)."""

    id: str
    name: str
    subtask: bool = False
    hierarchy_level: int = 0
    fields: dict[str, FieldMeta] = field(default_factory=dict)


@dataclass
class Project:
    """A project: its issue types and screens, priority scheme and who may do what."""

    id: str
    key: str
    name: str
    lead: str  # account id
    issue_types: list[IssueType] = field(default_factory=list)
    priority_ids: list[str] = field(default_factory=list)
    default_priority_id: str | None = None
    allow_unassigned: bool = True
    simplified: bool = False
    # account id -> permission keys. A user absent from the map has no permission at all.
    permissions: dict[str, set[str]] = field(default_factory=dict)
    counter: int = 0
    deleted: bool = False

    def can(self, account_id: str, permission: str) -> bool:
        """Whether the user holds ``permission`` here (nobody holds anything once deleted)."""
        return not self.deleted and permission in self.permissions.get(account_id, set())

    def issue_type(self, ref: str) -> IssueType | None:
        """An issue type by id or (case-insensitive) name."""
        for issue_type in self.issue_types:
            if issue_type.id == ref or issue_type.name.lower() == ref.lower():
                return issue_type
        return None


@dataclass
class Attachment:
    """A file attached to an issue."""

    id: str
    filename: str
    mime_type: str
    content: bytes
    author: str
    created: str

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.content)


@dataclass
class Issue:
    """An issue. ``fields`` hold the values as sent (ids resolved); rendering adds the rest."""

    id: str
    key: str
    project_key: str
    issue_type_id: str
    fields: dict[str, Any]
    reporter: str
    created: str
    created_at: float  # fake clock, for search lag
    created_search: int  # searches answered before it existed, for search lag
    properties: dict[str, Any] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    sprint_id: int | None = None


@dataclass
class Link:
    """A link. For ``Blocks``: ``source`` blocks ``destination``.

    ``POST /rest/api/3/issueLink`` puts its ``inwardIssue`` as the source and its
    ``outwardIssue`` as the destination (jira-api.md 1.4: the blocker is ``inwardIssue``).
    """

    id: str
    type_id: str
    source: str  # issue key
    destination: str


@dataclass
class Board:
    """An Agile board of one project."""

    id: int
    name: str
    type: str  # "scrum" | "kanban" | "simple"
    project_key: str


@dataclass
class Sprint:
    """A sprint of a scrum board."""

    id: int
    name: str
    state: str  # "future" | "active" | "closed"
    board_id: int
    goal: str = ""
    start: str | None = None
    end: str | None = None


@dataclass
class JiraState:
    """Everything the fake Jira knows."""

    users: dict[str, User] = field(default_factory=dict)  # by account id
    projects: dict[str, Project] = field(default_factory=dict)  # by key
    priorities: dict[str, Priority] = field(default_factory=dict)
    link_types: dict[str, LinkType] = field(default_factory=dict)
    issues: dict[str, Issue] = field(default_factory=dict)  # by key
    links: list[Link] = field(default_factory=list)
    boards: dict[int, Board] = field(default_factory=dict)
    sprints: dict[int, Sprint] = field(default_factory=dict)
    linking_enabled: bool = True
    indexed_properties: set[str] = field(default_factory=set)
    next_id: int = 10000
    searches: int = 0

    def new_id(self) -> str:
        """A fresh numeric id, as a string."""
        self.next_id += 1
        return str(self.next_id)

    def user_by_email(self, email: str) -> User | None:
        """The account with this e-mail address (case-insensitive)."""
        return next((u for u in self.users.values() if u.email.lower() == email.lower()), None)

    def project(self, ref: str) -> Project | None:
        """A live project by key or id."""
        for project in self.projects.values():
            if (project.key == ref or project.id == ref) and not project.deleted:
                return project
        return None

    def issue(self, ref: str) -> Issue | None:
        """An issue by key or id (None when its project is gone)."""
        issue = self.issues.get(ref) or next((i for i in self.issues.values() if i.id == ref), None)
        if issue is None or self.project(issue.project_key) is None:
            return None
        return issue

    def link_type(self, ref: dict[str, Any]) -> LinkType | None:
        """A link type from ``{"id": ...}`` or ``{"name": ...}`` (name case-insensitive)."""
        for link_type in self.link_types.values():
            if ref.get("id") == link_type.id or (
                isinstance(ref.get("name"), str) and ref["name"].lower() == link_type.name.lower()
            ):
                return link_type
        return None

    def snapshot(self) -> JiraState:
        """A deep copy, for assertions that must not race with the server."""
        return copy.deepcopy(self)
