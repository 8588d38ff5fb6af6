"""The Python API tests use to arrange the fake Jira and to look inside it.

A mixin of :class:`~tests.fakes.jira.server.FakeJira`: every method takes the server's lock, so
it is safe to call while requests are being served (for example from a fault action).
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterable

from tests.fakes.jira.state import (
    ALL_PERMISSIONS,
    DEFAULT_SCREEN,
    REQUIRED_BY_DEFAULT,
    Board,
    FieldMeta,
    Issue,
    IssueType,
    JiraState,
    LinkType,
    Priority,
    Project,
    Sprint,
    User,
)

DEFAULT_PRIORITIES = (
    ("1", "Highest", "#d04437"),
    ("2", "High", "#f15C75"),
    ("3", "Medium", "#f79232"),
    ("4", "Low", "#707070"),
    ("5", "Lowest", "#999999"),
)
DEFAULT_LINK_TYPES = (
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
)
ISSUE_TYPE_IDS = {"Epic": "10000", "Task": "10001", "Bug": "10002", "Story": "10003"}


class JiraSetup:
    """Arrange and inspect the fake's data (mixed into ``FakeJira``)."""

    state: JiraState
    _lock: threading.RLock
    email: str
    default_priority_id: str

    def _init_state(self, email: str, token: str, display_name: str) -> User:
        self.state = JiraState()
        for pid, name, color in DEFAULT_PRIORITIES:
            self.state.priorities[pid] = Priority(pid, name, color)
        self.default_priority_id = "3"
        for lid, name, inward, outward in DEFAULT_LINK_TYPES:
            self.state.link_types[lid] = LinkType(lid, name, inward, outward)
        return self.add_user(email, display_name, token)

    # -- users and permissions ----------------------------------------------------------------
    def add_user(
        self,
        email: str,
        display_name: str,
        token: str | None = None,
        *,
        email_visible: bool = True,
        active: bool = True,
    ) -> User:
        """An Atlassian account (with an API token if given). Not a project member yet."""
        with self._lock:
            account = "5b10" + secrets.token_hex(10)
            user = User(account, email, display_name, {token} if token else set(), active)
            user.email_visible = email_visible
            self.state.users[account] = user
            return user

    def user(self, email: str) -> User:
        """The account with this e-mail."""
        with self._lock:
            found = self.state.user_by_email(email)
            if found is None:
                raise KeyError(email)
            return found

    def grant(self, project_key: str, email: str, *permissions: str) -> None:
        """Give a user permissions in a project (all of them when none are named)."""
        with self._lock:
            project = self.state.projects[project_key]
            wanted = set(permissions) or set(ALL_PERMISSIONS)
            project.permissions.setdefault(self.user(email).account_id, set()).update(wanted)

    def revoke_permission(
        self, project_key: str, permission: str, email: str | None = None
    ) -> None:
        """Take a permission away (from the API user by default), e.g. ``CREATE_ISSUES``."""
        with self._lock:
            account = self.user(email or self.email).account_id
            self.state.projects[project_key].permissions.get(account, set()).discard(permission)

    def revoke_token(self, email: str | None = None) -> None:
        """Revoke every API token of the user (the API user by default): 401 from now on."""
        with self._lock:
            self.user(email or self.email).tokens.clear()

    # -- projects and their screens -------------------------------------------------------------
    def add_project(
        self,
        key: str,
        name: str,
        *,
        issue_types: Iterable[str] = ("Task", "Bug", "Story", "Epic"),
        priorities: Iterable[str] | None = None,
        default_priority: str = "Medium",
        allow_unassigned: bool = True,
        simplified: bool = False,
        members: Iterable[str] | None = None,
    ) -> Project:
        """A project whose issue types all have the default create screen.

        ``priorities`` names its priority scheme (default: all); ``members`` are e-mails given
        every permission (default: every account that exists now).
        """
        with self._lock:
            names = {p.name: p.id for p in self.state.priorities.values()}
            scheme = [names[n] for n in priorities] if priorities else list(names.values())
            project = Project(
                id=self.state.new_id(),
                key=key,
                name=name,
                lead=self.user(self.email).account_id,
                priority_ids=scheme,
                default_priority_id=names.get(default_priority),
                allow_unassigned=allow_unassigned,
                simplified=simplified,
            )
            for type_name in issue_types:
                type_id = ISSUE_TYPE_IDS.get(type_name) or self.state.new_id()
                screen = {f: FieldMeta(f, f in REQUIRED_BY_DEFAULT) for f in DEFAULT_SCREEN}
                level = 1 if type_name == "Epic" else 0
                project.issue_types.append(IssueType(type_id, type_name, False, level, screen))
            accounts = (
                [self.user(e).account_id for e in members]
                if members is not None
                else list(self.state.users)
            )
            project.permissions = {a: set(ALL_PERMISSIONS) for a in accounts}
            self.state.projects[key] = project
            return project

    def _issue_type(self, project_key: str, issue_type: str) -> IssueType:
        found = self.state.projects[project_key].issue_type(issue_type)
        if found is None:
            raise KeyError(issue_type)
        return found

    def set_required(
        self, project_key: str, issue_type: str, field_id: str, required: bool = True
    ) -> None:
        """Make a field of the create screen required (adding it to the screen if needed)."""
        with self._lock:
            screen = self._issue_type(project_key, issue_type).fields
            screen.setdefault(field_id, FieldMeta(field_id)).required = required

    def remove_from_screen(self, project_key: str, issue_type: str, field_id: str) -> None:
        """Take a field off the create screen: setting it then answers 400 "not on the screen"."""
        with self._lock:
            self._issue_type(project_key, issue_type).fields.pop(field_id, None)

    def remove_issue_type(self, project_key: str, issue_type: str) -> None:
        """Remove an issue type from a project (an admin changed its scheme)."""
        with self._lock:
            project = self.state.projects[project_key]
            project.issue_types = [t for t in project.issue_types if t.name != issue_type]

    def delete_project(self, project_key: str) -> None:
        """Delete a project: it and its issues answer 404 from now on."""
        with self._lock:
            self.state.projects[project_key].deleted = True

    def add_board(self, project_key: str, name: str, board_type: str = "scrum") -> Board:
        """An Agile board (``scrum``, ``kanban`` or ``simple``)."""
        with self._lock:
            board = Board(len(self.state.boards) + 1, name, board_type, project_key)
            self.state.boards[board.id] = board
            return board

    def add_sprint(self, board_id: int, name: str, state: str = "active") -> Sprint:
        """A sprint of a scrum board (``future``, ``active`` or ``closed``)."""
        with self._lock:
            sprint = Sprint(len(self.state.sprints) + 1, name, state, board_id)
            self.state.sprints[sprint.id] = sprint
            return sprint

    def add_link_type(self, name: str, inward: str, outward: str) -> LinkType:
        """A link type (names are site-configurable in Jira)."""
        with self._lock:
            link_type = LinkType(self.state.new_id(), name, inward, outward)
            self.state.link_types[link_type.id] = link_type
            return link_type

    def disable_linking(self) -> None:
        """Turn issue linking off for the site (link endpoints answer 404)."""
        with self._lock:
            self.state.linking_enabled = False

    def index_property(self, key: str) -> None:
        """Make an issue property searchable in JQL (in Jira only an app can do this)."""
        with self._lock:
            self.state.indexed_properties.add(key)

    # -- looking inside -------------------------------------------------------------------------
    def issue(self, key: str) -> Issue:
        """An issue by key (whatever its project's state)."""
        with self._lock:
            return self.state.issues[key]

    def issues(self, project_key: str | None = None) -> list[Issue]:
        """All issues, oldest first, optionally of one project."""
        with self._lock:
            return [
                i
                for i in sorted(self.state.issues.values(), key=lambda i: int(i.id))
                if project_key is None or i.project_key == project_key
            ]

    def label_counts(self, prefix: str = "") -> Counter[str]:
        """How many issues carry each label starting with ``prefix`` (a duplicate shows 2)."""
        with self._lock:
            return Counter(
                label
                for issue in self.state.issues.values()
                for label in issue.fields.get("labels") or []
                if label.startswith(prefix)
            )

    def links(self, type_name: str | None = None) -> list[tuple[str, str, str]]:
        """Every link as ``(type name, source key, destination key)``; duplicates included."""
        with self._lock:
            return [
                (self.state.link_types[lk.type_id].name, lk.source, lk.destination)
                for lk in self.state.links
                if type_name is None or self.state.link_types[lk.type_id].name == type_name
            ]

    def blocks(self) -> list[tuple[str, str]]:
        """``(blocker, blocked)`` for every ``Blocks`` link: what Jira shows as "A blocks B"."""
        return [(source, destination) for _, source, destination in self.links("Blocks")]
