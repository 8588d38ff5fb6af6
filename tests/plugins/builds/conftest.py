"""Fixtures of the builds tests: only the builds plugin loads; helpers to post events."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask


@pytest.fixture
def junction_plugins() -> list[str]:
    """Only the builds plugin."""
    return ["builds"]


def set_builds_settings(app: Flask, **values: Any) -> None:
    """Set settings of the ``builds`` namespace."""
    from app import settings

    with app.app_context():
        settings.set_values("builds", values)


def event(
    name: str = "numpy", version: str = "1.26.0", status: str = "built", **extra: Any
) -> dict:
    """A build event body."""
    return {
        "name": name,
        "version": version,
        "status": status,
        "python_tag": "cp312",
        "platform_tag": "manylinux_2_28_s390x",
        **extra,
    }
