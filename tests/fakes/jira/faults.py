"""Time, rate limits and injected faults of the fake Jira.

Everything that depends on time reads an injectable clock (seconds, monotonic), so tests drive
rate limits and search lag with :class:`ManualClock` instead of sleeping. :class:`Faults` holds
what a test asked to go wrong: 503 bursts, connections dropped before or after the work was done
(the "create succeeded but the answer was lost" case), a token revoked after N calls, and actions
run after the N-th created issue (delete the project, remove an issue type...).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CREATE_ISSUE = r"^/rest/api/3/issue$"


class ManualClock:
    """A clock that moves only when told to: ``clock.advance(2.5)``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        with self._lock:
            self.now += seconds


@dataclass
class RateLimit:
    """A token bucket: ``capacity`` requests at once, refilled at ``per_second``.

    Jira Cloud's API-token traffic is governed by burst limits whose numbers are not published
    (jira-api.md 1.12); the budget is a test's choice.
    """

    capacity: int
    per_second: float
    tokens: float = -1.0
    updated: float | None = None

    def take(self, now: float) -> tuple[bool, float]:
        """Spend one token if there is one: ``(allowed, seconds until the next token)``."""
        if self.updated is None or self.tokens < 0:
            self.tokens, self.updated = float(self.capacity), now
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, 0.0
        wait = (1 - self.tokens) / self.per_second if self.per_second > 0 else 3600.0
        return False, wait

    def headers(self, retry_after: float | None, reset_iso: Callable[[float], str]) -> dict:
        """``X-RateLimit-*`` (and, for a refusal, ``Retry-After``) as Jira sends them."""
        remaining = max(0, math.floor(self.tokens))
        headers = {"X-RateLimit-Limit": str(self.capacity), "X-RateLimit-Remaining": str(remaining)}
        if remaining < 0.2 * self.capacity:
            headers["X-RateLimit-NearLimit"] = "true"
        if retry_after is not None:
            seconds = max(1, math.ceil(retry_after))
            headers["Retry-After"] = str(seconds)
            headers["X-RateLimit-Reset"] = reset_iso(seconds)
            headers["RateLimit-Reason"] = "jira-burst-based"
        return headers


@dataclass
class Rule:
    """One injected fault: which requests it hits and what happens to them."""

    method: str | None
    path: re.Pattern[str] | None
    action: str  # "status" | "reset" | "timeout"
    when: str  # "before" (not processed) | "after" (processed, answer lost)
    remaining: int
    skip: int = 0
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        return (self.method is None or self.method == method) and (
            self.path is None or bool(self.path.search(path))
        )


class Faults:
    """What a test asked to go wrong. All methods are safe to call while the server runs."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.revoke_after: tuple[int, str | None] | None = None
        self.create_actions: list[tuple[int, Callable[[], object]]] = []
        # A held ("timeout") answer waits until :meth:`release_held` (or ``hold_seconds``),
        # then the connection closes without an answer. ``holding`` is set while one is held.
        self.holding = threading.Event()
        self.hold_seconds = 30.0
        self._release = threading.Event()
        self._lock = threading.Lock()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def burst(
        self,
        count: int = 3,
        status: int = 503,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
    ) -> Rule:
        """The next ``count`` matching requests get ``status`` without being processed."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"errorMessages": ["Service Unavailable"], "errors": {}}
        return self._add(
            Rule(
                method,
                re.compile(path) if path else None,
                "status",
                "before",
                count,
                status=status,
                headers=headers,
                body=body,
            )
        )

    def drop(self, count: int = 1, *, method: str | None = None, path: str | None = None) -> Rule:
        """Reset the connection of the next ``count`` matching requests before any work."""
        return self._add(Rule(method, re.compile(path) if path else None, "reset", "before", count))

    def lose_answer(
        self,
        mode: str = "reset",
        *,
        method: str | None = "POST",
        path: str | None = CREATE_ISSUE,
        count: int = 1,
        skip: int = 0,
        status: int = 502,
    ) -> Rule:
        """After a matching request SUCCEEDED (its effect is stored), lose its answer.

        ``mode="reset"`` resets the connection; ``mode="timeout"`` holds the answer (the client
        times out) until :meth:`release_held` or ``hold_seconds`` pass, then closes without
        answering; ``mode="error"`` answers ``status`` instead (a proxy's 502/503/504 after Jira
        did the work). By default it hits the next create (``POST /rest/api/3/issue``); ``skip``
        lets that many successful matches through first.
        """
        if mode not in ("reset", "timeout", "error"):
            raise ValueError("mode is 'reset', 'timeout' or 'error'")
        body = {"errorMessages": ["Bad Gateway"], "errors": {}}
        return self._add(
            Rule(
                method,
                re.compile(path) if path else None,
                "status" if mode == "error" else mode,
                "after",
                count,
                skip=skip,
                status=status,
                body=body,
            )
        )

    def revoke_token_after(self, calls: int, email: str | None = None) -> None:
        """Let ``calls`` more authenticated calls through, then revoke the token (401 after)."""
        with self._lock:
            self.revoke_after = (calls, email)

    def after_creates(self, count: int, action: Callable[[], object]) -> None:
        """Run ``action`` right after the ``count``-th issue created from now (1 = the next).

        What ``action`` returns is ignored (it may be another fault's rule)."""
        with self._lock:
            self.create_actions.append((count, action))

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self.rules.clear()
            self.revoke_after = None
            self.create_actions.clear()

    def release_held(self) -> None:
        """End every held answer now (their connections close without an answer)."""
        with self._lock:
            event, self._release = self._release, threading.Event()
            self.holding.clear()
        event.set()

    # -- used by the server ---------------------------------------------------------------------
    def take(self, when: str, method: str, path: str, ok: bool = True) -> Rule | None:
        """The rule that hits this request at ``when`` (consuming one of its uses), if any."""
        with self._lock:
            for rule in self.rules:
                if rule.when != when or rule.remaining <= 0 or not rule.matches(method, path):
                    continue
                if when == "after" and not ok:
                    continue
                rule.hits += 1
                if rule.hits <= rule.skip:
                    continue
                rule.remaining -= 1
                return rule
        return None

    def count_call(self, email: str) -> bool:
        """Count one authenticated call; True when its token is revoked from this call on."""
        with self._lock:
            if self.revoke_after is None:
                return False
            left, who = self.revoke_after
            if who is not None and who != email:
                return False
            if left <= 0:
                self.revoke_after = None
                return True
            self.revoke_after = (left - 1, who)
            return False

    def created(self) -> list[Callable[[], object]]:
        """Count one created issue; the actions now due."""
        with self._lock:
            due, pending = [], []
            for left, action in self.create_actions:
                if left <= 1:
                    due.append(action)
                else:
                    pending.append((left - 1, action))
            self.create_actions = pending
            return due

    def hold(self) -> None:
        """Hold a lost answer until released (or ``hold_seconds``)."""
        with self._lock:
            event = self._release
            self.holding.set()
        event.wait(self.hold_seconds)
