"""Pacing between tickets: the seed's fixed delay, or adaptive pacing from Jira's own signals.

Adaptive pacing waits nothing while Jira's budget is comfortable. When Jira says it is getting
close (``X-RateLimit-NearLimit: true`` or ``X-RateLimit-Remaining`` under a fifth of
``X-RateLimit-Limit``) it spaces calls out, doubling the gap while the signal lasts and halving
it once it is gone. A 429 or 503 with ``Retry-After`` is handled by the core HTTP client for
every call: it waits that long (plus jitter), pauses every caller of the same token, and retries
at most 4 times (Atlassian's guidance, jira-api.md 1.12).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

MIN_GAP = 0.1
MAX_GAP = 5.0


class Pacer:
    """Decides how long to wait after a ticket."""

    def __init__(
        self,
        mode: str,
        seconds: float,
        sleep: Callable[[float], None],
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.mode = mode
        self.seconds = max(0.0, seconds)
        self.sleep = sleep
        self.jitter = jitter
        self.gap = 0.0
        self.waited = 0.0

    def after_ticket(self, headers: Mapping[str, str]) -> None:
        """Wait as the mode says, given the last response's headers."""
        delay = self.seconds if self.mode == "fixed" else self._adaptive(headers)
        if delay > 0:
            self.waited += delay
            self.sleep(delay)

    def _adaptive(self, headers: Mapping[str, str]) -> float:
        near = str(headers.get("X-RateLimit-NearLimit", "")).lower() == "true"
        try:
            remaining = float(headers.get("X-RateLimit-Remaining", "nan"))
            limit = float(headers.get("X-RateLimit-Limit", "nan"))
            near = near or (limit > 0 and remaining < 0.2 * limit)
        except ValueError:
            pass
        if near:
            self.gap = min(MAX_GAP, max(MIN_GAP, self.gap * 2))
        else:
            self.gap = self.gap / 2 if self.gap > MIN_GAP else 0.0
        # Equal jitter keeps several exporters from moving in lockstep.
        return self.gap * (0.5 + 0.5 * self.jitter()) if self.gap else 0.0
