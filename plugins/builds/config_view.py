"""The builds plugin's sanitised ``GET /config``: settings, queue backend and database, with no
credentials."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from app import settings
from app.redaction import address_only
from plugins.builds import queue
from plugins.builds.config import NAMESPACE


def _database() -> dict[str, Any]:
    url = current_app.config.get("JUNCTION_DATABASE_URL") or ""
    parts = urlsplit(url)
    return {"dialect": parts.scheme.split("+")[0] or None, "host": parts.hostname or None}


def _backend_settings(backend: str) -> dict[str, Any]:
    """The public view (secrets masked) of the ``queue_<backend>`` plugin's settings, if any."""
    if f"queue_{backend}" not in settings.specs():
        return {}
    return settings.public_view(f"queue_{backend}")


def public_config() -> dict[str, Any]:
    """Strategy, targets, index settings, queue backend and database, with no credentials."""
    values = settings.get_all(NAMESPACE)
    return {
        "strategy": values["strategy"],
        "target_python": values["target_python"],
        "target_platform": values["target_platform"],
        "index": {
            "index_url": address_only(values["index_url"] or ""),
            "find_links": address_only(values["find_links"] or ""),
        },
        "queue": {
            "backend": values["queue_backend"],
            "visibility_timeout": values["visibility_timeout"],
            "details": queue.backend_details(),
            "settings": _backend_settings(values["queue_backend"]),
        },
        "worker": {
            "trigger": values["worker_trigger"],
            "webhook_url": address_only(values["webhook_url"] or ""),
            "webhook_secret_set": bool(values.get("webhook_secret")),
            "token_required": bool(values.get("worker_token")),
            "build_timeout": values["build_timeout"],
            "run_recipes": values["run_recipes"],
        },
        "logs": {"max_log_bytes": values["max_log_bytes"]},
        "database": _database(),
    }
