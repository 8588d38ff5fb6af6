"""A runner SIGKILLed mid-cascade: a new one resumes it and nothing is consumed twice.

The first runner process is killed inside a consumption (agent ``b`` called, its outputs not
recorded). The second claims the operation once the lease expires and calls ``b`` again for the
same artifact (at-least-once delivery) — but the board records each (artifact, agent) pair once:
one consumption per pair, one set of outputs per consumption, the chain complete.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.db import db
from plugins.blackboard import artifacts as board
from plugins.blackboard.models import Artifact, Consumption
from tests.e2e import blackboard_chain
from tests.support import fresh_database, migrate_database, start_operations_runner, wait_until

pytestmark = pytest.mark.e2e

LENGTH = 5  # depth 2 * LENGTH - 1 stays under the default max_depth of 10
HANG_AT = 3


def test_sigkilled_runner_resumes_cascade_without_double_consumption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    calls = tmp_path / "calls.log"
    calls.touch()
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            **os.environ,
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_OPERATION_LEASE_SECONDS": "2",
            "JUNCTION_LOG_LEVEL": "info",
            "BB_CALL_LOG": str(calls),
            "BB_CHAIN_LENGTH": str(LENGTH),
        }
        monkeypatch.setenv("BB_CALL_LOG", str(calls))
        app = create_app(
            {"JUNCTION_DATABASE_URL": url, "JUNCTION_SCHEDULER": "off"},
            instance_path=instance,
            extra_plugins=[("bbchain", blackboard_chain)],
        )
        # Publish from here without starting runner threads in this process.
        monkeypatch.setattr(board, "runner_job", lambda: 0)
        runners: list[subprocess.Popen[bytes]] = []
        try:
            with app.app_context():
                artifact, _ = board.publish({"type": "ping", "payload": {"n": 0}})
                correlation = artifact.correlation_id

                def lines() -> list[str]:
                    return calls.read_text().splitlines()

                first = start_operations_runner(
                    {**env, "BB_HANG_AT": str(HANG_AT)},
                    tmp_path / "runner-1.log",
                    app="tests.e2e.blackboard_wsgi",
                )
                runners.append(first)
                wait_until(
                    lambda: (
                        "b" in {line.split()[0] for line in lines()}
                        and any(
                            line.startswith("b ") and line.endswith(f" {HANG_AT}")
                            for line in lines()
                        )
                    ),
                    timeout=60,
                    what="agent b to hang inside its consumption",
                )
                os.kill(first.pid, signal.SIGKILL)
                assert first.wait(timeout=10) == -signal.SIGKILL

                second = start_operations_runner(
                    env, tmp_path / "runner-2.log", app="tests.e2e.blackboard_wsgi"
                )
                runners.append(second)
                assert second.wait(timeout=90) == 0, (tmp_path / "runner-2.log").read_text()

                with db.engine.connect() as connection:
                    arts = connection.execute(
                        sa.select(Artifact.__table__).where(Artifact.correlation_id == correlation)
                    ).all()
                    cons = connection.execute(
                        sa.select(Consumption.__table__).where(
                            Consumption.correlation_id == correlation
                        )
                    ).all()
                db.engine.dispose()
        finally:
            for process in runners:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)

    # The chain is complete: pings 0..LENGTH-1 and a pong for each.
    kinds = Counter((row.type, row.payload["n"]) for row in arts)
    assert kinds == Counter(
        {**{("ping", n): 1 for n in range(LENGTH)}, **{("pong", n): 1 for n in range(LENGTH)}}
    )
    # One consumption per artifact (each has exactly one subscriber), every one done.
    assert len(cons) == len(arts)
    assert Counter(row.artifact_id for row in cons) == Counter({row.id: 1 for row in arts})
    assert {row.status for row in cons} == {"done"}
    # Each consumption's outputs were recorded once; nothing else was produced.
    produced = [out for row in cons for out in row.outputs]
    assert sorted(produced) == sorted(row.id for row in arts if row.produced_by != "external")
    # b was called twice for the pong it hung on (at-least-once delivery), once for the rest.
    log = Counter(tuple(line.split()[:2]) for line in calls.read_text().splitlines())
    hung = next(row.id for row in arts if row.type == "pong" and row.payload["n"] == HANG_AT)
    assert log[("b", hung)] == 2
    assert sum(log.values()) == len(cons) + 1  # one call per consumption, plus the redo
