"""Another plugin adds a queue backend through ``junction_builds_queue_backends``."""

from __future__ import annotations

import types
from typing import Any

import pytest

from app.hookspecs import hookimpl
from plugins.builds.queue_base import ClearNotSupported, QueueOptions
from plugins.builds.queue_file import FileQueue
from tests.plugins.builds.conftest import set_builds_settings


class OtherQueue(FileQueue):
    """A backend of another plugin (a file queue under another name, for the test)."""

    name = "other"
    supports_clear = False

    def clear(self) -> int:
        """Refused, as a Kafka topic refuses it."""
        raise ClearNotSupported("no clear here")


def _factory(options: QueueOptions) -> OtherQueue:
    return OtherQueue(options.instance_path / "other-queue", options.clock)


@hookimpl
def junction_builds_queue_backends() -> dict[str, Any]:
    """The ``other`` backend."""
    return {"other": _factory}


queue_other = types.ModuleType("queue_other")
queue_other.junction_builds_queue_backends = junction_builds_queue_backends  # type: ignore[attr-defined]


@pytest.fixture
def junction_plugins() -> list[str]:
    return ["builds", "queue_other"]


@pytest.fixture
def junction_extra_plugins() -> list[tuple[str, Any]]:
    return [("queue_other", queue_other)]


def test_a_plugin_adds_a_backend(junction_app, junction_client):
    set_builds_settings(junction_app, queue_backend="other")
    body = {"package": "six", "version": "1.16.0"}
    assert junction_client.post("/api/builds/queue/enqueue", json=body).status_code == 201
    stats = junction_client.get("/api/builds/queue/stats").get_json()
    assert (stats["backend"], stats["length"], stats["supports_clear"]) == ("other", 1, False)
    assert junction_client.get("/api/builds/config").get_json()["queue"]["backend"] == "other"
    refused = junction_client.post("/api/builds/queue/clear")
    assert refused.status_code == 422  # the seed: clear is refused with a 422 saying why
    assert refused.get_json()["code"] == "BUILDS_QUEUE_CLEAR_UNSUPPORTED"
    # The file backend's queue is another one: switching back shows it empty.
    set_builds_settings(junction_app, queue_backend="file")
    assert junction_client.get("/api/builds/queue/stats").get_json()["length"] == 0
