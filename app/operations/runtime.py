"""Per-app runtime knobs of the operations service, and its exceptions.

Everything time- or chance-dependent (the clock, jitter) lives on :class:`Runtime` so tests
inject a fake clock and a fixed random source instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask

from app.db import utcnow
from app.state import junction_state


class TemporaryFailure(Exception):
    """Raise from a handler for a failure that may pass (timeouts, 5xx, rate limits).

    The operation goes back to ``pending`` and is retried with exponential backoff and jitter
    until ``max_attempts``; ``retry_after`` (seconds) sets a lower bound on the delay.
    """

    category = "temporary"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Raise from a handler for a failure that retrying cannot fix; the operation fails now.

    ``category`` names the kind of failure for clients (``validation``, ``auth``...).
    """

    def __init__(self, message: str, *, category: str = "permanent") -> None:
        super().__init__(message)
        self.category = category


class OperationCancelled(Exception):
    """Raised by :meth:`OperationContext.raise_if_cancelled`; the operation ends ``cancelled``."""


class LeaseLost(Exception):
    """This runner no longer holds the operation's lease: another runner took it over.

    Raised by the context's progress/checkpoint/cancellation calls so that two runners never
    both continue the same operation. Handlers must let it propagate.
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
    threads: list[threading.Thread] = field(default_factory=list, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def heartbeat_every(self) -> float:
        """Seconds between lease renewals (a third of the lease unless set)."""
        return self.heartbeat_interval or self.lease_seconds / 3

    def lease_until(self) -> dt.datetime:
        """When a lease taken or renewed now expires."""
        return self.now() + dt.timedelta(seconds=self.lease_seconds)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: exponential, capped, with jitter.

        "Equal jitter": half the exponential delay is fixed, half random, so retries of many
        operations failing together spread out but never retry immediately.
        """
        exp = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempt - 1)))
        delay = exp / 2 + self.random() * exp / 2
        if retry_after is not None:
            delay = max(delay, float(retry_after))
        return delay


def new_lease_token() -> str:
    """A lease owner unique to one claim: host, pid and a random suffix (no secrets)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def runtime(app: Flask | None = None) -> Runtime:
    """The operations runtime of ``app`` (default: the current app)."""
    found = junction_state(app).operations
    assert found is not None, "create_app() sets the operations runtime"
    return found
