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


@pytest.fixture
def serve():
    """Start an app on 127.0.0.1:<free port> in a thread; returns ``(http_url, ws_url)``."""
    import threading

    from werkzeug.serving import make_server

    from app import events

    servers: list[tuple[Any, Flask]] = []

    def start(app: Flask) -> tuple[str, str]:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, app))
        return f"http://127.0.0.1:{server.port}", f"ws://127.0.0.1:{server.port}"

    yield start
    for server, app in servers:
        events.get_hub(app).shutdown()  # ends open streams so their threads finish
        server.shutdown()
        server.server_close()
