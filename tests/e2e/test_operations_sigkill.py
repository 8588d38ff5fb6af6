"""A runner process is SIGKILLed mid-operation; a new one resumes it and nothing is duplicated.

The external service is a real HTTP server with "create if absent, else return the existing
one" semantics keyed by an external id, as real APIs offer (Jira's and Plane's external ids,
idempotency keys). The first runner is killed exactly inside the dangerous window: right after
an external create and before the checkpoint recording it. The second runner reclaims the
operation once the lease expires, resumes from the checkpoint, redoes that one step (the
service answers with the existing object) and finishes. Every thing is created exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app import create_app
from app import operations as ops
from app.db import db
from app.operations.models import Operation
from tests.fixture_plugins import opsplugin
from tests.support import (
    fresh_database,
    migrate_database,
    start_operations_runner,
    wait_until,
)

pytestmark = pytest.mark.e2e

COUNT = 10
KILL_AFTER = 4  # the first runner dies right after the 4th create, before checkpointing it


class ThingsService:
    """A tiny external API: ``POST /things {external_id, name}`` creates once, then returns it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.things: dict[str, dict[str, Any]] = {}
        self.creates: Counter[str] = Counter()
        self.posts: Counter[str] = Counter()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/things":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                external_id = body["external_id"]
                with service.lock:
                    service.posts[external_id] += 1
                    thing = service.things.get(external_id)
                    status = 200
                    if thing is None:
                        thing = {"id": uuid.uuid4().hex, "external_id": external_id, **body}
                        service.things[external_id] = thing
                        service.creates[external_id] += 1
                        status = 201
                payload = json.dumps(thing).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThingsService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def created_count(self) -> int:
        with self.lock:
            return sum(self.creates.values())


def test_sigkilled_runner_is_resumed_without_duplicate_side_effects(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    with ThingsService() as service, fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            **os.environ,
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_OPERATION_LEASE_SECONDS": "2",
            "JUNCTION_LOG_LEVEL": "info",
        }
        app = create_app(
            {
                "JUNCTION_DATABASE_URL": url,
                "JUNCTION_SCHEDULER": "off",
                "JUNCTION_LOG_LEVEL": "warning",
            },
            instance_path=instance,
            extra_plugins=[("opsplugin", opsplugin)],
        )
        runners: list[subprocess.Popen[bytes]] = []
        try:
            with app.app_context():
                op = ops.submit(
                    opsplugin.KIND,
                    {
                        "base_url": service.url,
                        "count": COUNT,
                        "prefix": "thing",
                        "hang_after": KILL_AFTER,
                    },
                )

                def stored() -> dict[str, Any]:
                    with db.engine.connect() as connection:
                        found = connection.execute(
                            sa.select(Operation.__table__).where(Operation.id == op.id)
                        ).one()
                    return dict(found._mapping)

                first = start_operations_runner(
                    env, tmp_path / "runner-1.log", app="tests.e2e.ops_wsgi"
                )
                runners.append(first)
                wait_until(
                    lambda: service.created_count() == KILL_AFTER,
                    timeout=30,
                    what=f"{KILL_AFTER} external creates by the first runner",
                )
                # The dangerous window: thing-3 exists outside, the checkpoint says 3 done.
                in_window = stored()
                assert in_window["status"] == "running" and in_window["attempts"] == 1
                assert in_window["checkpoint"]["next"] == KILL_AFTER - 1
                # The live runner keeps its lease alive while it works (heartbeat).
                wait_until(
                    lambda: stored()["lease_expires_at"] != in_window["lease_expires_at"],
                    timeout=10,
                    what="a lease renewal by the first runner",
                )

                os.kill(first.pid, signal.SIGKILL)
                assert first.wait(timeout=10) == -signal.SIGKILL

                second = start_operations_runner(
                    env, tmp_path / "runner-2.log", app="tests.e2e.ops_wsgi"
                )
                runners.append(second)
                assert second.wait(timeout=60) == 0, (tmp_path / "runner-2.log").read_text()

                done = ops.get_operation(op.id)
                assert done.status == "succeeded", done.error
                assert done.attempts == 2
                assert done.progress["done"] == COUNT

                keys = [f"thing-{i}" for i in range(COUNT)]
                assert service.creates == Counter({key: 1 for key in keys})
                # The step inside the window ran twice; the external id made the repeat harmless.
                assert service.posts[f"thing-{KILL_AFTER - 1}"] == 2
                assert sum(service.posts.values()) == COUNT + 1
                assert done.result == {"created": {key: service.things[key]["id"] for key in keys}}
                db.engine.dispose()
        finally:
            for process in runners:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
