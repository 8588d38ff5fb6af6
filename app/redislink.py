"""Redis connections that notice a dead link, and one log line per change of a link's health.

A Redis link cut silently (packets dropped, no reset) looks like an idle connection: nothing
fails until something is sent and no answer comes back. Every Junction Redis client therefore
gets TCP keepalives and ``TCP_USER_TIMEOUT`` (the kernel gives up on unacknowledged data after
a few seconds instead of retransmitting for ~15 minutes) and, where it is idle by design (the
pub/sub subscriber), redis-py's ``health_check_interval`` so a PING is in flight to be missed.

:class:`LinkHealth` logs once when a link is lost (and what Junction does instead) and once
when it is back, instead of a warning on every retry.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

# Seconds. The subscriber PINGs every HEALTH_CHECK_INTERVAL while idle; a link whose PING
# stays unanswered for PONG_TIMEOUT more is declared dead.
HEALTH_CHECK_INTERVAL = 2
PONG_TIMEOUT = 3.0
KEEPALIVE_IDLE = 5
KEEPALIVE_INTERVAL = 2
KEEPALIVE_COUNT = 3
USER_TIMEOUT_MS = 8000


def keepalive_options() -> dict[int, int]:
    """``socket_keepalive_options`` for redis-py: probe an idle link after a few seconds and
    abort one whose sent data stays unacknowledged for ``USER_TIMEOUT_MS`` (Linux)."""
    options: dict[int, int] = {}
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ):
        constant = getattr(socket, name, None)
        if constant is not None:  # not every platform has every option
            options[constant] = value
    return options


def client_options(
    socket_timeout: float = 2.0, health_check_interval: int = HEALTH_CHECK_INTERVAL
) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` shared by every Junction Redis client."""
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "socket_keepalive_options": keepalive_options(),
        "health_check_interval": health_check_interval,
    }


class LinkHealth:
    """Whether a link works, logging only its changes: one warning when it is lost (with what
    happens meanwhile), one with the outage's length when it is back."""

    def __init__(self, logger: logging.Logger, name: str, fallback: str) -> None:
        self.logger = logger
        self.name = name
        self.fallback = fallback
        self.healthy = True
        self.down_since: float | None = None
        self._lock = threading.Lock()

    def failed(self, exc: BaseException | str) -> bool:
        """Record a failure; ``True`` when it is the one that lost the link (and was logged)."""
        with self._lock:
            if not self.healthy:
                return False
            self.healthy = False
            self.down_since = time.monotonic()
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.logger.warning("%s: Redis unavailable (%s); %s", self.name, reason, self.fallback)
        return True

    def ok(self) -> bool:
        """Record a success; ``True`` when it recovered the link (and was logged)."""
        if self.healthy:  # the common case, without the lock
            return False
        with self._lock:
            if self.healthy:
                return False
            self.healthy = True
            since, self.down_since = self.down_since, None
        outage = time.monotonic() - since if since is not None else 0.0
        # Same level as the loss, so whoever saw one line sees the other.
        self.logger.warning("%s: Redis is back after %.1fs", self.name, outage)
        return True
