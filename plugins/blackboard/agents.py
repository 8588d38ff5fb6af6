"""Agents: Python agents from the hook and HTTP agents from the table, seen the same way."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.errors import Conflict, NotFound
from app.settings_crypto import InvalidToken
from app.state import junction_state
from plugins.blackboard import matching
from plugins.blackboard.models import Agent
from plugins.blackboard.registry import registry
from plugins.blackboard.spec import AgentSpec, Subscription


@dataclass
class AgentView:
    """One agent, whatever its kind: what matching and the API need."""

    name: str
    kind: str  # "python" | "http"
    subscriptions: list[Subscription]
    labels: list[str] = field(default_factory=list)
    tenant_id: str | None = None
    description: str = ""
    spec: AgentSpec | None = None
    row: Agent | None = None

    def wants(self, artifact: dict[str, Any]) -> bool:
        """Whether this agent may see ``artifact`` and one of its subscriptions matches."""
        if artifact["produced_by"] == self.name:
            return False  # an agent never triggers itself (Flock's prevent_self_trigger)
        if not matching.may_see(artifact["visibility"], self.name, self.labels, self.tenant_id):
            return False
        return any(matching.subscription_matches(sub, artifact) for sub in self.subscriptions)

    def public(self) -> dict[str, Any]:
        """The API view (never the secret)."""
        subs = [
            {
                "types": list(sub.types),
                "from_agents": list(sub.from_agents),
                "tags": list(sub.tags),
                "where": sub.where if isinstance(sub.where, dict) else None,
                "has_predicate": sub.where is not None,
            }
            for sub in self.subscriptions
        ]
        view: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "labels": list(self.labels),
            "tenant_id": self.tenant_id,
            "subscriptions": subs,
        }
        if self.row is not None:
            view.update(
                url=self.row.url,
                has_secret=True,
                timeout_seconds=self.row.timeout_seconds,
                max_attempts=self.row.max_attempts,
                created_at=self.row.created_at,
                health=health(self.row),
            )
        return view


def health(row: Agent, now: dt.datetime | None = None) -> dict[str, Any]:
    """The circuit breaker's view of an HTTP agent."""
    from app.db import utcnow

    moment = now or utcnow()
    open_until = row.circuit_open_until
    is_open = open_until is not None and open_until > moment
    return {
        "circuit": "open" if is_open else ("half_open" if open_until else "closed"),
        "consecutive_failures": row.consecutive_failures,
        "circuit_open_until": open_until if is_open else None,
    }


def _python_view(spec: AgentSpec) -> AgentView:
    return AgentView(
        name=spec.name,
        kind="python",
        subscriptions=list(spec.subscriptions),
        labels=list(spec.labels),
        tenant_id=spec.tenant_id,
        description=spec.description,
        spec=spec,
    )


def _http_view(row: Agent) -> AgentView:
    return AgentView(
        name=row.name,
        kind="http",
        subscriptions=[matching.subscription_of(s) for s in row.subscriptions],
        labels=list(row.labels or []),
        tenant_id=row.tenant_id,
        description=row.description or "",
        row=row,
    )


def all_agents() -> list[AgentView]:
    """Every agent: Python agents, then HTTP agents, each by name."""
    python = [_python_view(spec) for _, spec in sorted(registry().agents.items())]
    rows = db.session.scalars(sa.select(Agent).order_by(Agent.name))
    return python + [_http_view(row) for row in rows]


def find(name: str) -> AgentView | None:
    """The agent ``name``, or ``None``."""
    spec = registry().agents.get(name)
    if spec is not None:
        return _python_view(spec)
    row = db.session.get(Agent, name, populate_existing=True)
    return _http_view(row) if row is not None else None


def get(name: str) -> AgentView:
    """The agent ``name`` or a 404."""
    found = find(name)
    if found is None:
        raise NotFound(f"No agent named {name!r}; list them with GET /api/v1/agents.")
    return found


def _crypto() -> Any:
    from app.settings import _crypto as settings_crypto  # the core's one encryption of secrets

    crypto = junction_state().secrets
    return crypto if crypto is not None else settings_crypto()


def seal(secret: str) -> tuple[str, bool]:
    """``(stored text, encrypted?)``: encrypted when ``JUNCTION_SECRET_KEY`` is set."""
    crypto = _crypto()
    if crypto.current is None:
        return secret, False
    return crypto.encrypt(secret), True


def secret_of(row: Agent) -> str:
    """The agent's secret in clear, for signing only (never in a response or a log)."""
    if not row.secret_encrypted:
        return row.secret
    try:
        return str(_crypto().decrypt(row.secret))
    except InvalidToken:
        raise Conflict(
            f"The secret of agent {row.name!r} cannot be decrypted with JUNCTION_SECRET_KEY; "
            "register the agent again with its secret.",
            code="SECRET_UNREADABLE",
        ) from None


def register_http_agent(data: dict[str, Any]) -> AgentView:
    """Store a new HTTP agent (409 when the name is taken)."""
    name = data["name"]
    if name in registry().agents or db.session.get(Agent, name) is not None:
        raise Conflict(f"An agent named {name!r} exists already.", code="AGENT_EXISTS")
    stored, encrypted = seal(data["secret"])
    row = Agent(
        name=name,
        url=data["url"],
        secret=stored,
        secret_encrypted=encrypted,
        description=data.get("description"),
        labels=list(data.get("labels") or []),
        tenant_id=data.get("tenant_id"),
        subscriptions=data["subscriptions"],
        timeout_seconds=float(data.get("timeout_seconds", 10.0)),
        max_attempts=int(data.get("max_attempts", 3)),
        consecutive_failures=0,
    )
    db.session.add(row)
    db.session.commit()
    return _http_view(row)


def delete_http_agent(name: str) -> None:
    """Delete an HTTP agent (404 unknown, 409 for a Python agent, which a plugin defines)."""
    if name in registry().agents:
        raise Conflict(
            f"Agent {name!r} is defined by a plugin; disable the plugin instead.",
            code="AGENT_NOT_DELETABLE",
        )
    row = db.session.get(Agent, name)
    if row is None:
        raise NotFound(f"No agent named {name!r}.")
    db.session.delete(row)
    db.session.commit()
