"""The blackboard's migration creates exactly what its models declare."""

from __future__ import annotations

from flask import Flask

from app.testing import migration_drift


def test_no_drift(junction_app: Flask) -> None:
    assert migration_drift(junction_app, "blackboard_") == []
