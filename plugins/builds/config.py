"""The builds plugin's settings (namespace ``builds``) and the sanitised ``GET /config``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import current_app

from app import settings

NAMESPACE = "builds"

DECLARATION: dict[str, Any] = {
    "namespace": NAMESPACE,
    "fields": {
        "strategy": {
            "type": "str",
            "default": "missing",
            "choices": ["missing", "all", "pinned"],
            "scope": "global",
            "help": "What a plan builds: versions without a wheel (missing), all, or pinned only.",
        },
        "target_python": {
            "type": "str",
            "default": "cp312",
            "scope": "global",
            "help": "Python tag the workers build for.",
        },
        "target_platform": {
            "type": "str",
            "default": "manylinux_2_28_s390x",
            "scope": "global",
            "help": "Platform tag the workers build for.",
        },
        "index_url": {
            "type": "str",
            "default": "https://pypi.org/simple",
            "scope": "global",
            "help": "Package index the reference worker downloads sdists from.",
        },
        "find_links": {
            "type": "str",
            "default": "",
            "scope": "global",
            "help": "A folder or URL of sdists; with it set the worker uses --no-index.",
        },
        "queue_backend": {
            "type": "str",
            "default": "file",
            "scope": "global",
            "help": "Build-queue backend: file, or one a queue_* plugin adds (redis, kafka...).",
        },
        "queue_dir": {
            "type": "str",
            "default": "",
            "scope": "global",
            "help": "Folder of the file queue (default: <instance>/builds-queue).",
        },
        "visibility_timeout": {
            "type": "int",
            "default": 3600,
            "min": 10,
            "max": 7 * 86400,
            "scope": "global",
            "help": "Seconds a worker holds a leased item before it is handed out again.",
        },
        "build_timeout": {
            "type": "int",
            "default": 1800,
            "min": 5,
            "max": 86400,
            "scope": "global",
            "help": "Seconds the reference worker lets one `pip wheel` run.",
        },
        "max_log_bytes": {
            "type": "int",
            "default": 5 * 1024 * 1024,
            "min": 1024,
            "max": 64 * 1024 * 1024,
            "scope": "global",
            "help": "Largest log stored; a longer one keeps its head and tail.",
        },
        "wheel_dir": {
            "type": "str",
            "default": "",
            "scope": "global",
            "help": "Where the reference worker puts wheels (default: <instance>/builds-wheels).",
        },
        "worker_trigger": {
            "type": "str",
            "default": "local",
            "choices": ["local", "webhook"],
            "scope": "global",
            "help": "How POST /worker/trigger drains the queue.",
        },
        "webhook_url": {
            "type": "str",
            "default": "",
            "scope": "global",
            "help": 'URL the webhook trigger POSTs {"action": "drain"} to.',
        },
        "webhook_secret": {
            "type": "str",
            "secret": True,
            "scope": "global",
            "bound_to": ["webhook_url"],
            "help": "HMAC-SHA256 key signing the webhook trigger (X-Junction-Signature).",
        },
        "worker_token": {
            "type": "str",
            "secret": True,
            "scope": "global",
            "help": "When set, worker endpoints need it (X-Worker-Token or the worker_token "
            "cookie).",
        },
        "run_recipes": {
            "type": "bool",
            "default": False,
            "scope": "global",
            "help": "Let the reference worker install hint recipes (otherwise only shown).",
        },
    },
}


def option(key: str) -> Any:
    """One setting of the builds namespace (needs an app context)."""
    return settings.get(NAMESPACE, key)


def _sanitised_url(url: str) -> str:
    """``url`` without credentials, query or fragment."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


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
    from plugins.builds import queue  # queue imports this module (option)

    values = settings.get_all(NAMESPACE)
    return {
        "strategy": values["strategy"],
        "target_python": values["target_python"],
        "target_platform": values["target_platform"],
        "index": {
            "index_url": _sanitised_url(values["index_url"] or ""),
            "find_links": _sanitised_url(values["find_links"] or ""),
        },
        "queue": {
            "backend": values["queue_backend"],
            "visibility_timeout": values["visibility_timeout"],
            "details": queue.backend_details(),
            "settings": _backend_settings(values["queue_backend"]),
        },
        "worker": {
            "trigger": values["worker_trigger"],
            "webhook_url": _sanitised_url(values["webhook_url"] or ""),
            "webhook_secret_set": bool(values.get("webhook_secret")),
            "token_required": bool(values.get("worker_token")),
            "build_timeout": values["build_timeout"],
            "run_recipes": values["run_recipes"],
        },
        "logs": {"max_log_bytes": values["max_log_bytes"]},
        "database": _database(),
    }
