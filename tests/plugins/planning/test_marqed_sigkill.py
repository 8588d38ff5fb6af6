"""A runner process is SIGKILLed inside a MarQed import; another resumes it without duplicates.

The kill lands in the dangerous window: the fake Plane has created the 5th object and holds its
answer, so the first runner dies knowing nothing of it (its checkpoint has 4 ids). The second
runner claims the operation when the lease expires, resumes from the checkpoint, re-sends that
one create (Plane answers 409 with the existing id) and finishes. Every object exists once.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from app import create_app, settings
from app import operations as ops
from app.db import db
from app.domain import service as domain
from plugins.planning import marqed_import
from tests.fakes.marqed_tree import make_tree
from tests.fakes.plane import FakePlane
from tests.support import (
    fresh_database,
    migrate_database,
    start_operations_runner,
    wait_until,
)

pytestmark = pytest.mark.e2e

HOLD_AT = 5


def test_killed_marqed_import_resumes_without_duplicates(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    tree = tmp_path / "marqed"
    make_tree(tree, epics=2, features=3, stories=3, tasks=3)
    total = 11
    # Plane with a generous limit (a service token: the budget is not what is tested here).
    with FakePlane(rate_limit=6000) as fake, fresh_database(tmp_path) as url:
        plane_project = fake.add_project()
        fake.hold_after_creates = HOLD_AT
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
        )
        runners: list[subprocess.Popen[bytes]] = []
        try:
            with app.app_context():
                project_dir = tmp_path / "checkout"
                project_dir.mkdir()
                domain.create_project("demo", str(project_dir))
                settings.set_values(
                    "planning",
                    {
                        "api_url": fake.url,
                        "api_key": fake.api_key,
                        "workspace_slug": fake.workspace,
                        "rate_limit_per_minute": 6000,
                    },
                )
                settings.set_values("planning", {"project_id": plane_project}, "demo")
                op = ops.submit(
                    marqed_import.KIND,
                    {"marqed_dir": str(tree), "cycle_id": None, "project_name": "demo"},
                    project="demo",
                )
                first = start_operations_runner(env, tmp_path / "runner-1.log")
                runners.append(first)
                wait_until(fake.holding.is_set, timeout=30, what="the held create")
                assert len(fake.objects_by_external_id()) == HOLD_AT
                os.kill(first.pid, signal.SIGKILL)
                assert first.wait(timeout=10) == -signal.SIGKILL
                fake.release.set()
                assert len(ops.get_operation(op.id).checkpoint["ids"]) == HOLD_AT - 1

                second = start_operations_runner(env, tmp_path / "runner-2.log")
                runners.append(second)
                assert second.wait(timeout=60) == 0, (tmp_path / "runner-2.log").read_text()
                done = ops.get_operation(op.id)
                assert done.status == "succeeded", done.error
                assert done.attempts == 2
                result = done.result
                assert result is not None
                assert (result["created"], result["existing"], result["errors"]) == (
                    total - 1,
                    1,
                    0,
                )
                counts = fake.objects_by_external_id()
                assert len(counts) == total and set(counts.values()) == {1}
                db.engine.dispose()
        finally:
            fake.release.set()
            for process in runners:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
