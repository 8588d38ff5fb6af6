"""The test doubles both halves of the backend contract share: a clock that moves only when
told to, and queue items with fresh ids.

Import them from :mod:`plugins.builds.testing` (which re-exports them); they live here so that
:mod:`plugins.builds.testing_procs` can use them without importing the suite that mixes it in.
"""

from __future__ import annotations

import uuid
from typing import Any

from plugins.builds.queue_base import QueueItem


class ManualClock:
    """Wall-clock seconds that move only when a test advances them."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def make_item(package: str = "numpy", version: str = "1.0", **extra: Any) -> QueueItem:
    """A queue item with a fresh id."""
    return QueueItem(id=uuid.uuid4().hex, package=package, version=version, **extra)
