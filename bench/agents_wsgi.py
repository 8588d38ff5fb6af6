"""WSGI entry of ``bench/agents_runs.py``: the app plus a no-op operation kind (the baseline)."""

from __future__ import annotations

from typing import Any

from app import create_app
from app.hookspecs import hookimpl


def _noop(ctx: Any) -> dict[str, Any]:
    """Do nothing: what an operation costs by itself (claim, lease, events, finish)."""
    return {}


class _NoopPlugin:
    """A plugin with one operation kind, ``benchnoop.noop``."""

    @hookimpl
    def junction_operations(self) -> dict[str, Any]:
        return {"benchnoop.noop": _noop}


NOOP_PLUGIN = ("benchnoop", _NoopPlugin())
app = create_app(extra_plugins=[NOOP_PLUGIN])
