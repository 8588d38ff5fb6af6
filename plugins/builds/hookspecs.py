"""Hooks the builds plugin offers to the plugins that extend it (added by ``junction_addhooks``).

``queue_*`` plugins implement :func:`junction_builds_queue_backends` to offer a build-queue
backend; ``builds`` implements it itself for the ``file`` backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.hookspecs import hookspec


@hookspec
def junction_builds_queue_backends() -> Mapping[str, Callable[..., Any]] | None:
    """Return ``{name: factory}`` of build-queue backends.

    ``factory(options)`` gets a :class:`plugins.builds.queue_base.QueueOptions` (the app's
    configuration, the instance folder and a clock) and returns an object implementing
    :class:`plugins.builds.queue_base.QueueBackend`: ``enqueue``, ``lease`` with a visibility
    timeout, ``ack``, ``nack``, ``stats``, ``items``, ``clear`` (or ``supports_clear = False``)
    and ``close``, with at-least-once delivery. ``JUNCTION_BUILDS_QUEUE_BACKEND`` chooses one by
    name. Run :mod:`plugins.builds.testing`'s contract suite against a new backend.
    """
