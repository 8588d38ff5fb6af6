"""What the fake Jira's server and views share: the request, the error, contract violations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.fakes.jira.state import User


class JiraError(Exception):
    """An answer other than success, with Jira's ``ErrorCollection`` body."""

    def __init__(
        self,
        status: int,
        messages: list[str] | tuple[str, ...] = (),
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.body: Any = {"errorMessages": list(messages), "errors": errors or {}}
        self.headers = headers or {}
        self.req: Req | None = None  # the request it answers, once authenticated


def not_found_issue() -> JiraError:
    """Jira's answer for an issue that does not exist or cannot be seen."""
    return JiraError(404, ["Issue does not exist or you do not have permission to see it."])


@dataclass
class Req:
    """One request as the views see it (already authenticated and checked)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    body: Any
    user: User
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        """An integer query parameter (the spec check has already refused non-integers)."""
        value = self.arg(name)
        return int(value) if value not in (None, "") else default

    def csv(self, name: str) -> list[str]:
        """A parameter that may be repeated and/or comma-separated."""
        found: list[str] = []
        for value in self.query.get(name, []):
            found.extend(v.strip() for v in value.split(",") if v.strip())
        return found


@dataclass
class Violation:
    """A request that broke the published contract (a client bug the tests must see)."""

    method: str
    path: str
    kind: str  # "openapi" | "adf" | "unknown-endpoint" | "field-shape" | "xsrf" | "json"
    messages: list[str]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.kind}]: {'; '.join(self.messages)}"


@dataclass
class Call:
    """One request the fake received, and its answer's status (0: no answer was sent)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    at: float
    body: Any = None
    account_id: str | None = None
