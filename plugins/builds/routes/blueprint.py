"""The builds plugin's blueprint (``/api/builds``), on which every route module registers, and
the path parameters they share."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

blp = Blueprint(
    "builds",
    "plugins.builds",  # the package: its root path, as when this was plugins/builds/routes.py
    url_prefix="/api/builds",
    description="Wheel-build control plane: build history, queue, hints, logs, plans, workers.",
)

# Documented so that clients (and fuzzers) know the form; the names module's checks answer the
# actual refusals (a name PEP 508 refuses, a version PEP 440 refuses: 422).
PACKAGE_NAME: dict[str, Any] = {
    "in": "path",
    "name": "name",
    "description": "A distribution name as PEP 508 allows it (normalised as PEP 503 says).",
    "schema": {
        "type": "string",
        "pattern": "^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$",
        "maxLength": 200,
    },
}

PACKAGE_VERSION: dict[str, Any] = {
    "in": "path",
    "name": "version",
    "description": "A version as PEP 440 allows it.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}
