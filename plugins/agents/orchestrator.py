"""Junction's reference orchestrator: ``junction agents orchestrate PROJECT``.

Works a project's features to green with no LLM: claims the next feature (priority order,
dependencies passing), runs the project's ``feature_command`` for it (environment
``JUNCTION_FEATURE_ID``, ``JUNCTION_FEATURE_NAME``, ``JUNCTION_PROJECT``), records a TestRun
per attempt and sets ``passes``. Each feature is tried once per session.

Signals (seed 000): SIGUSR1 = soft stop (claim nothing new, finish the current feature, exit
0); SIGTERM = stop now (the current feature's process group gets SIGTERM, exit 143).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from app import settings
from app.db import db, rowcount
from app.domain import Feature, Project, require_project
from app.domain.service import create_test_run
from app.errors import ValidationFailed, field_error
from app.operations import runtime
from plugins.agents.config import NAMESPACE
from plugins.agents.procs import die_with_parent, signal_group, start_time

FEATURES = Feature.__table__


class Orchestrator:
    """One orchestrator session for one project."""

    def __init__(self, project_name: str, say: Callable[[str], None] | None = None) -> None:
        self.project: Project = require_project(project_name, field="project")
        self.command = str(settings.get(NAMESPACE, "feature_command", self.project) or "")
        if not self.command.strip():
            raise ValidationFailed(
                f"Set agents.feature_command for project {self.project.name!r} first.",
                errors=[
                    field_error("feature_command", "Required by the orchestrator.", "required")
                ],
            )
        self.say = say or (lambda line: print(line, flush=True))
        self.shutdown_requested = False  # soft stop: claim nothing new
        self.is_running = True  # hard stop: stop now
        self.current: tuple[int, int | None] | None = None

    def install_signals(self) -> None:
        """SIGUSR1 = soft stop, SIGTERM = hard stop."""
        signal.signal(signal.SIGUSR1, self._soft_stop)
        signal.signal(signal.SIGTERM, self._hard_stop)

    def _soft_stop(self, *_: Any) -> None:
        self.shutdown_requested = True
        self.say("soft stop: finishing current work, claiming nothing new")

    def _hard_stop(self, *_: Any) -> None:
        self.shutdown_requested, self.is_running = True, False
        self.say("stop: terminating current work")
        if self.current is not None:
            signal_group(self.current[0], self.current[1], signal.SIGTERM)

    def run(self) -> int:
        """Work features until none is left or a stop arrives; the exit status."""
        self._release_stale_claims()
        self.say(f"orchestrator for {self.project.name} started (pid {os.getpid()})")
        tried: set[int] = set()
        while self.is_running and not self.shutdown_requested:
            feature = self._claim_next(tried)
            if feature is None:
                self.say("no feature left to claim")
                break
            tried.add(feature.id)
            self._work(feature)
        self.say("orchestrator finished" if self.is_running else "orchestrator stopped")
        return 0 if self.is_running else 143

    def _release_stale_claims(self) -> None:
        # One orchestrator per project (the process operation's dedupe key): claims left
        # behind belong to a predecessor that was killed.
        db.session.execute(
            sa.update(FEATURES)
            .where(FEATURES.c.project_id == self.project.id, FEATURES.c.in_progress.is_(True))
            .values(in_progress=False)
        )
        db.session.commit()

    def _claim_next(self, tried: set[int]) -> Feature | None:
        candidates = db.session.scalars(
            sa.select(Feature)
            .where(
                Feature.project_id == self.project.id,
                Feature.passes.is_(False),
                Feature.in_progress.is_(False),
            )
            .order_by(Feature.priority, Feature.id)
            .execution_options(populate_existing=True)
        ).all()
        passing = set(
            db.session.scalars(
                sa.select(Feature.id).where(
                    Feature.project_id == self.project.id, Feature.passes.is_(True)
                )
            )
        )
        for feature in candidates:
            if feature.id in tried or not set(feature.dependencies or []) <= passing:
                continue
            claimed = rowcount(
                db.session.execute(
                    sa.update(FEATURES)
                    .where(FEATURES.c.id == feature.id, FEATURES.c.in_progress.is_(False))
                    .values(in_progress=True)
                )
            )
            db.session.commit()
            if claimed == 1:
                return feature
        return None

    def _work(self, feature: Feature) -> None:
        self.say(f"claimed feature {feature.id}: {feature.name}")
        started_at = runtime().now()
        env = {
            **os.environ,
            "JUNCTION_PROJECT": self.project.name,
            "JUNCTION_FEATURE_ID": str(feature.id),
            "JUNCTION_FEATURE_NAME": feature.name,
        }
        proc = subprocess.Popen(
            ["/bin/sh", "-c", self.command],
            cwd=self.project.path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sys.stdout,
            stderr=sys.stderr,
            start_new_session=True,  # a hard stop reaches its whole group
            preexec_fn=die_with_parent,
        )
        self.current = (proc.pid, start_time(proc.pid))
        code = proc.wait()
        self.current = None
        passed = code == 0 and self.is_running
        create_test_run(
            self.project.name,
            feature.id,
            {
                "passed": passed,
                "agent_type": "coding",
                "started_at": started_at,
                "completed_at": runtime().now(),
                "return_code": code,
            },
        )
        db.session.execute(
            sa.update(FEATURES)
            .where(FEATURES.c.id == feature.id)
            .values(passes=passed, in_progress=False)
        )
        db.session.commit()
        self.say(f"feature {feature.id} {'passes' if passed else 'fails'} (exit code {code})")
