"""Real runner processes SIGKILLed mid-export and right after a create; the export resumes.

The first runner is killed while it paces between tickets; the second right after Jira stored a
create whose answer it never got (the fake holds it): its database knows the create was sent
but not the key. The third resumes, looks the issue up by its label and property (the search
lags behind creates), adopts it, creates the rest and links. Every ticket exists in Jira exactly
once, every link exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from app import create_app, settings
from app.db import db
from app.domain import service as domain
from plugins.jira import service, sessions
from tests.fakes.jira import FakeJira
from tests.fakes.jira.demo import seed_demo
from tests.support import fresh_database, migrate_database, start_operations_runner, wait_until

pytestmark = pytest.mark.e2e
TICKETS = 8


def test_killed_export_resumes_without_duplicates(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    fake = FakeJira(search_lag=(1.0, 2))
    seed_demo(fake)
    with fake, fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            **os.environ,
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_OPERATION_LEASE_SECONDS": "2",
            "JUNCTION_LOG_LEVEL": "info",
        }
        config = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
            "JUNCTION_OPERATION_RUNNERS": "off",
        }
        app = create_app(config, instance_path=instance)
        runners: list[subprocess.Popen[bytes]] = []
        try:
            with app.app_context():
                domain.create_project("demo", str(tmp_path))
                settings.set_values(
                    "jira",
                    {
                        "site_url": fake.url,
                        "email": fake.email,
                        "api_token": fake.token,
                        "default_project_key": "DEMO",
                        "pacing_seconds": 0.3,
                    },
                )
                session = sessions.create_session({"name": "kill me", "project_name": "demo"})
                ids: list[str] = []
                deps = 0
                for n in range(TICKETS):
                    wanted = [ids[n - 1]] if n and n % 2 == 0 else []
                    deps += len(wanted)
                    ticket = sessions.create_ticket(
                        session, {"title": f"T{n}", "dependencies": wanted}
                    )
                    ids.append(ticket.id)
                started = service.start_export(session.id)

                first = start_operations_runner(env, tmp_path / "runner-1.log")
                runners.append(first)
                wait_until(lambda: len(fake.issues("DEMO")) >= 2, timeout=60, what="2 issues")
                os.kill(first.pid, signal.SIGKILL)
                assert first.wait(timeout=10) == -signal.SIGKILL

                fake.faults.lose_answer("timeout", skip=1)
                second = start_operations_runner(env, tmp_path / "runner-2.log")
                runners.append(second)
                wait_until(fake.faults.holding.is_set, timeout=60, what="the held create")
                os.kill(second.pid, signal.SIGKILL)
                assert second.wait(timeout=10) == -signal.SIGKILL
                fake.faults.release_held()
                db.session.expire_all()
                missing = [t for t in sessions.tickets_of(session) if not t.jira_ticket_key]
                attempted = [t for t in missing if t.create_attempted_at is not None]
                assert attempted, "the killed runner had sent a create it never saw answered"

                third = start_operations_runner(env, tmp_path / "runner-3.log")
                runners.append(third)
                assert third.wait(timeout=120) == 0, (tmp_path / "runner-3.log").read_text()
                db.session.expire_all()
                row = sessions.get_session(session.id)
                assert row.status == "completed", (row.error_category, row.error_message)
                counts = fake.label_counts("junction-")
                assert len(counts) == TICKETS and set(counts.values()) == {1}
                assert len(fake.issues("DEMO")) == TICKETS
                blocks = fake.blocks()
                assert len(blocks) == deps == len(set(blocks))
                keys = {t.id: t.jira_ticket_key for t in sessions.tickets_of(row)}
                expected = {
                    (keys[d], keys[t.id]) for t in sessions.tickets_of(row) for d in t.dependencies
                }
                assert set(blocks) == expected
                assert started["total_tickets"] == TICKETS
                assert fake.violations == []
                db.engine.dispose()
        finally:
            fake.faults.release_held()
            for process in runners:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
