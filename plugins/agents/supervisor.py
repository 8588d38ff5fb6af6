"""The owner of a project's agent process: starts it, relays stop requests as signals, keeps
its last output lines and its exit code.

Runs inside the ``agents.process`` operation on whichever runner claimed it. The child gets
its own session (process group) and ``PR_SET_PDEATHSIG``: it dies with this runner thread. A
signal goes to the pid only after ``/proc/<pid>/stat`` shows the start time we recorded.
"""

from __future__ import annotations

import logging
import os
import queue
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from app import settings
from app.db import db
from app.domain import require_project
from app.operations import OperationContext, runtime
from plugins.agents.agent_command import command_for
from plugins.agents.config import NAMESPACE
from plugins.agents.models import (
    OUTPUT_LINES,
    P_FINISHING,
    P_RUNNING,
    P_STOPPED,
    P_STOPPING,
    WANT_SOFT_STOP,
    WANT_STOPPED,
    AgentProcess,
)
from plugins.agents.procs import die_with_parent, signal_group, signal_process, start_time

log = logging.getLogger(__name__)

TABLE = AgentProcess.__table__
CHECK_EVERY = 0.25
FLUSH_EVERY = 0.5
READY_AFTER = 2.0
ALIVE = ("starting", P_RUNNING, P_FINISHING, P_STOPPING)


def _desired(project: str) -> str | None:
    with db.engine.connect() as connection:
        return connection.scalar(sa.select(TABLE.c.desired).where(TABLE.c.project == project))


def _update(project: str, **values: Any) -> None:
    values.setdefault("updated_at", runtime().now())
    db.session.execute(sa.update(TABLE).where(TABLE.c.project == project).values(**values))
    db.session.commit()


def supervise(ctx: OperationContext, project: str) -> dict[str, Any]:
    """Run the project's agent process until it exits; relay soft and hard stops."""
    desired = _desired(project)
    if desired is None or desired == WANT_STOPPED:
        _update(project, status=P_STOPPED, stopped_at=runtime().now(), pid=None)
        return {"project": project, "started": False}
    checkout = Path(require_project(project, field="project").path)
    argv = command_for(project)
    grace = float(settings.get(NAMESPACE, "stop_grace", project) or 10)
    env = {**os.environ, "JUNCTION_AGENTS_PROJECT": project, "PYTHONUNBUFFERED": "1"}
    # The reference orchestrator is a Junction process: it needs this app's database.
    env["JUNCTION_DATABASE_URL"] = str(
        ctx.app.config.get("JUNCTION_DATABASE_URL") or ctx.app.config["SQLALCHEMY_DATABASE_URI"]
    )
    env["JUNCTION_INSTANCE_PATH"] = str(ctx.app.instance_path)
    env.setdefault("JUNCTION_SCHEDULER", "off")
    ctx.check_lease()
    proc = subprocess.Popen(
        argv,
        cwd=str(checkout) if checkout.is_dir() else None,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    started = start_time(proc.pid)
    soft = desired == WANT_SOFT_STOP
    _update(
        project,
        status=P_FINISHING if soft else P_RUNNING,
        pid=proc.pid,
        pid_start=started,
        host=socket.gethostname(),
        command=shlex.join(argv),
        started_at=runtime().now(),
        exit_code=None,
    )
    log.info("agent of %s started: pid %s", project, proc.pid)
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    try:
        code = _follow(ctx, project, proc, started, lines, grace, soft)
    except BaseException:
        # Lease lost (another runner takes over) or this process is going away: the child
        # must not outlive its owner's claim on it.
        _kill(proc, started, 2.0)
        raise
    _update(project, status=P_STOPPED, exit_code=code, stopped_at=runtime().now())
    log.info("agent of %s exited with %s", project, code)
    return {"project": project, "exit_code": code}


def process_operation(ctx: OperationContext) -> dict[str, Any]:
    """The ``agents.process`` handler: supervise the project's agent process."""
    return supervise(ctx, str(ctx.params["project"]))


# A long-lived supervisor is taken over after each crash of its runner; give it room.
# (app.operations reads this attribute of the handler; a function has no typed attributes.)
process_operation.max_attempts = 1000  # type: ignore[attr-defined]


def _follow(
    ctx: OperationContext,
    project: str,
    proc: subprocess.Popen[bytes],
    started: int | None,
    lines: queue.Queue[str | None],
    grace: float,
    soft_sent: bool,
) -> int:
    output: list[str] = []
    with db.engine.connect() as connection:
        output = list(
            connection.scalar(sa.select(TABLE.c.output).where(TABLE.c.project == project)) or []
        )
    dirty = False
    # A soft stop asked for before the child could install its SIGUSR1 handler would kill it
    # (the default action): relay it once the child has said something, or after a moment.
    spawned, ready = time.monotonic(), False
    soft_wanted, soft_sent = soft_sent, False
    term_at: float | None = None
    killed = False
    next_check = next_flush = 0.0
    stream_open = True
    while True:
        try:
            line = lines.get(timeout=CHECK_EVERY)
        except queue.Empty:
            line = ""
        if line is None:
            stream_open = False
        elif line:
            output = [*output, line][-OUTPUT_LINES:]
            dirty = ready = True
        now = time.monotonic()
        ready = ready or now >= spawned + READY_AFTER
        exited = proc.poll() is not None
        if dirty and (now >= next_flush or exited):
            _update(project, output=output)
            dirty, next_flush = False, now + FLUSH_EVERY
        if exited and (not stream_open or lines.empty()):
            break
        if now < next_check or exited:
            continue
        next_check = now + CHECK_EVERY
        ctx.check_lease()
        desired = _desired(project)
        soft_wanted = soft_wanted or desired == WANT_SOFT_STOP
        if soft_wanted and not soft_sent and ready and desired != WANT_STOPPED:
            soft_sent = signal_process(proc.pid, started, signal.SIGUSR1)
            _update(project, status=P_FINISHING)
        elif desired == WANT_STOPPED and term_at is None:
            signal_process(proc.pid, started, signal.SIGTERM)
            term_at = now
            _update(project, status=P_STOPPING)
        elif term_at is not None and not killed and now >= term_at + grace:
            killed = signal_group(proc.pid, started, signal.SIGKILL)
    if dirty:
        _update(project, output=output)
    return int(proc.wait())


def _pump(stream: IO[bytes] | None, lines: queue.Queue[str | None]) -> None:
    try:
        if stream is not None:
            for raw in iter(stream.readline, b""):
                lines.put(raw.decode("utf-8", "replace").rstrip("\r\n")[:4000])
    finally:
        lines.put(None)


def _kill(proc: subprocess.Popen[bytes], started: int | None, grace: float) -> None:
    if proc.poll() is not None:
        return
    signal_group(proc.pid, started, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        signal_group(proc.pid, started, signal.SIGKILL)
        proc.wait(timeout=5)


def reconcile_processes() -> int:
    """Mark stopped the agents whose operation ended without saying so (cancelled while
    pending, abandoned); the ``deadlines`` job calls it."""
    from app.operations.models import FINISHED, Operation

    rows = db.session.execute(
        sa.select(TABLE.c.project)
        .join(Operation, Operation.id == TABLE.c.operation_id)
        .where(TABLE.c.status.in_(ALIVE), Operation.status.in_(FINISHED))
    ).all()
    db.session.rollback()
    for (project,) in rows:
        _update(project, status=P_STOPPED, stopped_at=runtime().now())
    return len(rows)
