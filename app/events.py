"""Placeholder for the core runtime service `events` (issue: core runtime)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach the service to ``app`` (nothing yet)."""


def publish(channel: str, type: str, data: dict) -> None:
    """Record an event on ``channel`` (nothing yet: the event log arrives with the runtime)."""
