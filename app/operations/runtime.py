"""Per-app runtime knobs of the operations service, and its exceptions.

Everything time- or chance-dependent (the clock, jitter) lives on :class:`Runtime` so tests
inject a fake clock and a fixed random source instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from app.db import utcnow
from app.errors import JunctionError
from app.state import junction_state

# A failure's category, derived from the HTTP status of the problem it carries.
STATUS_CATEGORIES: dict[int, str] = {
    400: "validation",
    401: "auth",
    403: "permission",
    404: "not_found",
    409: "conflict",
    413: "validation",
    422: "validation",
    429: "rate_limited",
}


def category_of_status(status: int) -> str:
    """The failure category of an HTTP status (``temporary`` for 5xx, else ``validation``)."""
    if status >= 500:
        return "temporary"
    return STATUS_CATEGORIES.get(status, "validation")


def problem_of(error: JunctionError) -> dict[str, Any]:
    """The problem members of ``error`` as stored in an operation's ``error.problem``.

    ``status``, ``code``, ``title``, ``errors`` and the error's extra members (made
    JSON-safe); ``detail`` is the failure's ``message`` and is not repeated.
    """
    problem: dict[str, Any] = {"status": int(error.status), "code": error.code}
    if error.title:
        problem["title"] = error.title
    if error.errors:
        problem["errors"] = error.errors
    if error.extra:
        problem["extra"] = json.loads(json.dumps(error.extra, default=str))
    return problem


class _CarriesProblem(Exception):
    """Base of the handler failures: a message, a category and optionally a problem."""

    category = "permanent"

    def __init__(
        self,
        message: str,
        *,
        category: str | None = None,
        status: int | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        if category is not None:
            self.category = category
        self.problem: dict[str, Any] | None = None
        if status is not None or code is not None or extra:
            self.problem = {"status": int(status or 502), "code": code or "OPERATION_FAILED"}
            if extra:
                self.problem["extra"] = json.loads(json.dumps(extra, default=str))


class TemporaryFailure(_CarriesProblem):
    """Raise from a handler for a failure that may pass (timeouts, 5xx, rate limits).

    The operation goes back to ``pending`` and is retried with exponential backoff and jitter
    until ``max_attempts``; ``retry_after`` (seconds) sets a lower bound on the delay. When the
    attempts run out the operation fails with this failure's problem (see
    :class:`PermanentFailure`).
    """

    category = "temporary"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        category: str | None = None,
        status: int | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message, category=category, status=status, code=code, **extra)
        self.retry_after = retry_after


class PermanentFailure(_CarriesProblem):
    """Raise from a handler for a failure that retrying cannot fix; the operation fails now.

    ``category`` names the kind of failure for clients (``validation``, ``auth``...).
    ``status``, ``code`` and extra keywords are the problem a request waiting for the
    operation answers (:func:`app.operations.submit_and_respond`): ``PermanentFailure("Cycle
    not found", status=404, code="PLANNING_NOT_FOUND")``. Raising a
    :class:`~app.errors.JunctionError` from a handler does the same with its own problem.
    """


def failure_of(error: JunctionError) -> TemporaryFailure | PermanentFailure:
    """The handler failure a :class:`~app.errors.JunctionError` stands for.

    Retryable errors (``retryable=True``, 429, 5xx) become a :class:`TemporaryFailure` that
    honours the error's ``Retry-After`` header; the others a :class:`PermanentFailure`. Both
    keep the error's problem, so the request waiting for the operation answers it unchanged.
    """
    category = category_of_status(int(error.status))
    failure: TemporaryFailure | PermanentFailure
    if error.retryable or category in {"rate_limited", "temporary"}:
        header = error.headers.get("Retry-After")
        try:
            retry_after = float(header) if header else None
        except ValueError:
            retry_after = None
        failure = TemporaryFailure(error.detail, retry_after=retry_after, category=category)
    else:
        failure = PermanentFailure(error.detail, category=category)
    failure.problem = problem_of(error)
    return failure


class OperationCancelled(Exception):
    """Raised by :meth:`OperationContext.raise_if_cancelled`; the operation ends ``cancelled``."""


class LeaseLost(Exception):
    """This runner no longer holds the operation's lease: another runner took it over, or the
    lease's local deadline passed without a renewal (the database is out of reach, and another
    runner may take it over at any moment).

    Raised by the context's ``check_lease``/progress/checkpoint/cancellation calls so that two
    runners never both continue the same operation. Handlers must let it propagate.
    """


@dataclass
class Runtime:
    """Settings and injectable dependencies of the operations service on one app."""

    lease_seconds: float = 30.0
    heartbeat_interval: float | None = None  # default lease_seconds / 3
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    default_max_attempts: int = 5
    poll_interval: float = 0.25
    now: Callable[[], dt.datetime] = utcnow
    random: Callable[[], float] = random.random
    runner_threads: int = 2
    # The local deadline's clock and its margin (default a fifth of the lease): a runner that
    # has not renewed its lease for ``lease_seconds - margin`` stops before its next call out.
    monotonic: Callable[[], float] = time.monotonic
    lease_margin: float | None = None
    threads: list[threading.Thread] = field(default_factory=list, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Set (under ``lock``) when work was handed over while every runner thread was busy: the
    # first thread to run out of work looks again instead of exiting, so work submitted just
    # as a runner found nothing due is not left to the scheduler's next tick.
    kicked: bool = field(default=False, repr=False)
    # Bumped (and waiters woken) whenever a runner of this process records an outcome, so a
    # request waiting for its operation answers at once instead of at its next poll.
    settled: threading.Condition = field(default_factory=threading.Condition, repr=False)
    settled_count: int = field(default=0, repr=False)

    def notify_settled(self) -> None:
        """Wake :meth:`wait_settled` callers: an operation of this process changed state."""
        with self.settled:
            self.settled_count += 1
            self.settled.notify_all()

    def wait_settled(self, seen: int, timeout: float) -> int:
        """Wait until an outcome after ``seen`` (a :attr:`settled_count` read earlier) or
        ``timeout`` seconds; return the count now. Reading the count *before* checking the
        database means an outcome recorded in between is never waited through."""
        with self.settled:
            if self.settled_count == seen and timeout > 0:
                self.settled.wait(timeout)
            return self.settled_count

    @property
    def heartbeat_every(self) -> float:
        """Seconds between lease renewals (a third of the lease unless set)."""
        return self.heartbeat_interval or self.lease_seconds / 3

    def lease_until(self) -> dt.datetime:
        """When a lease taken or renewed now expires."""
        return self.now() + dt.timedelta(seconds=self.lease_seconds)

    def local_deadline(self, sent_at: float) -> float:
        """The :attr:`monotonic` time after which a lease taken or renewed by a statement sent
        at ``sent_at`` may belong to someone else: the lease less the margin, which covers
        clock skew between hosts and the time a handler's next step takes to start."""
        margin = self.lease_seconds / 5 if self.lease_margin is None else self.lease_margin
        return sent_at + self.lease_seconds - margin

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: exponential, capped, with jitter.

        "Equal jitter": half the exponential delay is fixed, half random, so retries of many
        operations failing together spread out but never retry immediately.
        """
        exp = min(self.backoff_max, self.backoff_base * (2.0 ** max(0, attempt - 1)))
        delay = exp / 2 + self.random() * exp / 2
        if retry_after is not None:
            delay = max(delay, float(retry_after))
        return delay


def new_lease_token() -> str:
    """A lease owner unique to one claim: host, pid and a random suffix (no secrets)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def runtime(app: Flask | None = None) -> Runtime:
    """The operations runtime of ``app`` (default: the current app)."""
    found = junction_state(app).service(Runtime)
    assert found is not None, "create_app() sets the operations runtime"
    return found
