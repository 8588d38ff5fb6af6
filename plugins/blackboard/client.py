"""Calling HTTP agents: a signed POST on ``app.http``, a timeout, and a circuit breaker.

The breaker's state lives on the agent's row, so every worker and host shares it: after
``circuit_failure_threshold`` consecutive failures the circuit opens for
``circuit_cooldown_seconds``; calls meanwhile fail at once (the consumption fails with the
reason); the first call after the cooldown is the trial (half-open).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.http import HttpError, ServiceClient
from app.operations import runtime
from plugins.blackboard import config, signing
from plugins.blackboard.agents import secret_of
from plugins.blackboard.models import Agent

_CLIENTS: dict[tuple[str, str, float], ServiceClient] = {}
_CLIENTS_LOCK = threading.Lock()


class AgentCallFailed(Exception):
    """An agent call failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def _client(row: Agent) -> ServiceClient:
    key = (row.name, row.url, float(row.timeout_seconds))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            timeout = float(row.timeout_seconds)
            client = _CLIENTS[key] = ServiceClient(
                f"blackboard.agent.{row.name}",
                row.url,
                timeout=(min(5.0, timeout), timeout),
                max_retries=0,  # retries are the operation's, with backoff between attempts
                max_elapsed=timeout + 5.0,
            )
        return client


def _breaker_open(row: Agent, now: dt.datetime) -> float | None:
    """Seconds the circuit stays open, or ``None`` when a call may go through."""
    until = row.circuit_open_until
    if until is not None and until > now:
        return (until - now).total_seconds()
    return None


def _record(name: str, ok: bool) -> None:
    table = Agent.__table__
    with db.engine.begin() as connection:
        if ok:
            connection.execute(
                sa.update(table)
                .where(table.c.name == name, table.c.consecutive_failures > 0)
                .values(consecutive_failures=0, circuit_open_until=None)
            )
            return
        failures = connection.scalar(
            sa.update(table)
            .where(table.c.name == name)
            .values(consecutive_failures=table.c.consecutive_failures + 1)
            .returning(table.c.consecutive_failures)
        )
        if failures is not None and failures >= int(config.get("circuit_failure_threshold")):
            until = runtime().now() + dt.timedelta(
                seconds=float(config.get("circuit_cooldown_seconds"))
            )
            connection.execute(
                sa.update(table).where(table.c.name == name).values(circuit_open_until=until)
            )


def call(row: Agent, body: dict[str, Any], delivery_id: str, attempt: int) -> list[dict[str, Any]]:
    """POST ``body`` to the agent, signed; the artifacts it answers (``[]`` for none)."""
    wait = _breaker_open(row, runtime().now())
    if wait is not None:
        raise AgentCallFailed(
            f"circuit of agent {row.name!r} is open for {wait:.1f}s more",
            retryable=True,
            retry_after=wait,
        )
    raw = json.dumps(body, default=str, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        signing.DELIVERY_HEADER: delivery_id,
        "X-Junction-Attempt": str(attempt),
        **signing.headers(secret_of(row), raw),
    }
    try:
        response = _client(row).post(row.url, data=raw, headers=headers)
    except HttpError as exc:
        _record(row.name, False)
        retryable = exc.category in {"temporary", "rate_limited"}
        raise AgentCallFailed(
            f"agent {row.name!r}: {exc}", retryable=retryable, retry_after=exc.retry_after
        ) from None
    if response.status_code == 204 or not response.content:
        _record(row.name, True)
        return []
    try:
        answer = response.json()
        outputs = answer.get("artifacts", []) if isinstance(answer, dict) else None
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise ValueError("'artifacts' must be a list of objects")
    except ValueError as exc:
        _record(row.name, False)
        raise AgentCallFailed(
            f"agent {row.name!r} answered something that is not "
            f'{{"artifacts": [{{"type", "payload"}}...]}}: {exc}',
            retryable=False,
        ) from None
    _record(row.name, True)
    return outputs
