"""The builds plugin's settings (namespace ``builds``).

The sanitised ``GET /config`` view is in :mod:`plugins.builds.config_view`: it asks the queue
backend for its details, and the queue reads its settings here.
"""

from __future__ import annotations

from typing import Any

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
