"""Placeholder for the core runtime service `idempotency` (issue: core runtime)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach the service to ``app`` (nothing yet)."""
