"""The part of JQL the fake Jira understands: enough for "find what I created".

``project``, ``key``/``issuekey``, ``id``, ``labels``, ``summary`` (``~`` contains),
``issuetype``, ``assignee`` with ``=``, ``!=``, ``in``, ``not in``, ``~``, combined with
``AND``/``OR`` and parentheses, then an optional ``ORDER BY``. ``issue.property[key].path``
works only for a property key the fake was told is indexed (in Jira that takes a Connect or
Forge app: a plain API-token client cannot index properties; jira-api.md 1.11). A query with
no restriction is refused as Jira refuses it ("unbounded").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.jira.state import Issue, JiraState

Predicate = Callable[[Issue], bool]
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|!~|~|=|\(|\)|,)'
    r"|(?P<word>issue\.property\[[^\]]+\][\w.]*|[\w.@\-]+))"
)
FIELDS = {"project", "key", "issuekey", "id", "labels", "summary", "issuetype", "assignee"}


class JqlError(Exception):
    """A query Jira would answer 400 to; the message is Jira's."""


def _tokens(text: str) -> list[tuple[str, str]]:
    found, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise JqlError(
                f"Error in the JQL Query: the character '{text[pos:].strip()[0]}' "
                f"is a reserved JQL character (line 1, character {pos + 1})."
            )
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found.append((kind, value))
        pos = match.end()
    return found


class _Parser:
    def __init__(self, text: str, state: JiraState, projects: set[str]) -> None:
        self.tokens, self.pos, self.state = _tokens(text), 0, state
        self.projects = projects
        self.order: list[tuple[str, bool]] = []

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.pos += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if not token or token[0] != kind or (value is not None and token[1] != value):
            shown = token[1] if token else "<EOF>"
            raise JqlError(f"Error in the JQL Query: Expecting {value or kind} but got '{shown}'.")
        self.pos += 1
        return token[1]

    def parse(self) -> Predicate | None:
        predicate = None if self.at_order() or self.peek() is None else self.or_expr()
        if self.word("order"):
            if not self.word("by"):
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            while True:
                name = self.expect("word").lower()
                descending = self.word("desc")
                if not descending:
                    self.word("asc")
                self.order.append((name, descending))
                if not (self.peek() and self.peek() == ("op", ",")):
                    break
                self.pos += 1
        if (extra := self.peek()) is not None:
            raise JqlError(f"Error in the JQL Query: unexpected '{extra[1]}'.")
        return predicate

    def at_order(self) -> bool:
        token = self.peek()
        return bool(token and token[0] == "word" and token[1].lower() == "order")

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.word("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda i: any(p(i) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.atom()]
        while self.word("and"):
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else (lambda i: all(p(i) for p in parts))

    def atom(self) -> Predicate:
        if self.peek() == ("op", "("):
            self.pos += 1
            inner = self.or_expr()
            self.expect("op", ")")
            return inner
        name = self.expect("word")
        if self.word("not"):
            if not self.word("in"):
                raise JqlError("Error in the JQL Query: Expecting 'in' after 'not'.")
            values = self.values()
            test = self.field_test(name, values, "=")
            return lambda i: not test(i)
        if self.word("in"):
            return self.field_test(name, self.values(), "=")
        token = self.peek()
        if not token or token[0] != "op" or token[1] not in ("=", "!=", "~", "!~"):
            raise JqlError(f"Error in the JQL Query: Expecting operator after '{name}'.")
        self.pos += 1
        value = self.value()
        test = self.field_test(name, [value], token[1].lstrip("!"))
        return (lambda i: not test(i)) if token[1].startswith("!") else test

    def values(self) -> list[str]:
        self.expect("op", "(")
        found = [self.value()]
        while self.peek() == ("op", ","):
            self.pos += 1
            found.append(self.value())
        self.expect("op", ")")
        return found

    def value(self) -> str:
        token = self.peek()
        if not token or token[0] not in ("str", "word"):
            raise JqlError("Error in the JQL Query: Expecting a value.")
        self.pos += 1
        return token[1]

    def field_test(self, name: str, values: list[str], op: str) -> Predicate:
        lowered = name.lower()
        if lowered.startswith("issue.property["):
            return self.property_test(name, values)
        if lowered not in FIELDS:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        wanted = set(values)
        state = self.state
        if lowered == "project":
            unknown = [v for v in values if v.lower() not in self.projects]
            if unknown:
                raise JqlError(f"The value '{unknown[0]}' does not exist for the field 'project'.")
            wanted = {v.lower() for v in values}  # keys are case-insensitive in JQL

        def values_of(issue: Issue) -> set[str]:
            if lowered == "project":
                project = state.projects[issue.project_key]
                return {project.key.lower(), project.id, project.name.lower()}
            if lowered in ("key", "issuekey"):
                return {issue.key}
            if lowered == "id":
                return {issue.id}
            if lowered == "labels":
                return set(issue.fields.get("labels") or [])
            if lowered == "issuetype":
                issue_type = state.projects[issue.project_key].issue_type(issue.issue_type_id)
                return {issue.issue_type_id, issue_type.name if issue_type else ""}
            if lowered == "assignee":
                assignee = issue.fields.get("assignee")
                return {assignee} if assignee else {"EMPTY"}
            return {issue.fields.get("summary") or ""}

        if op == "~":
            needle = values[0].lower()
            return lambda i: any(needle in v.lower() for v in values_of(i))
        return lambda i: bool(values_of(i) & wanted)

    def property_test(self, name: str, values: list[str]) -> Predicate:
        match = re.match(r"issue\.property\[([^\]]+)\]\.?(.*)$", name, re.IGNORECASE)
        key, path = (match.group(1), match.group(2)) if match else ("", "")
        if key not in self.state.indexed_properties:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )

        def lookup(issue: Issue) -> Any:
            value: Any = issue.properties.get(key)
            for part in [p for p in path.split(".") if p]:
                value = value.get(part) if isinstance(value, dict) else None
            return value

        return lambda i: str(lookup(i)) in values


def compile_jql(
    text: str, state: JiraState, projects: set[str]
) -> tuple[Predicate, list[tuple[str, bool]]]:
    """A predicate over issues and the ``ORDER BY`` terms; :class:`JqlError` if Jira says 400.

    ``projects`` are the keys, ids and names (lower-case) of the projects the caller can see: a
    query naming another one is refused, as Jira does.
    """
    parser = _Parser(text or "", state, projects)
    predicate = parser.parse()
    if predicate is None:
        raise JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to "
            "your query."
        )
    return predicate, parser.order


def sort_issues(issues: list[Issue], order: list[tuple[str, bool]]) -> list[Issue]:
    """Issues in ``ORDER BY`` order (default: newest first, as Jira's ``created DESC``)."""
    ordered = sorted(issues, key=lambda i: int(i.id), reverse=True)
    for name, descending in reversed(order):
        if name in ("key", "issuekey", "id", "created"):
            ordered.sort(key=lambda i: int(i.id), reverse=descending)
        elif name == "summary":
            ordered.sort(key=lambda i: i.fields.get("summary") or "", reverse=descending)
    return ordered
