"""Per-project agent processes (seed 000): start, soft stop, hard stop, status.

Requests never touch a process directly: they change the project's ``agents_processes`` row
(``desired``), and the runner that owns the process's durable operation (``agents.process``,
one per project) acts on it within half a second. The process therefore belongs to no
gunicorn worker; it dies with its owning runner thread (``PR_SET_PDEATHSIG``), and when that
runner dies its lease expires and another runner starts the process again, unless it was
stopped meanwhile.
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import operations as ops
from app.db import db, rowcount
from app.domain import require_project
from app.errors import Conflict
from app.operations import runtime
from plugins.agents.agent_command import command_for
from plugins.agents.models import (
    P_FINISHING,
    P_RUNNING,
    P_STARTING,
    P_STOPPED,
    P_STOPPING,
    WANT_RUNNING,
    WANT_SOFT_STOP,
    WANT_STOPPED,
    AgentProcess,
)

log = logging.getLogger(__name__)

KIND = "agents.process"
TABLE = AgentProcess.__table__
ALIVE = (P_STARTING, P_RUNNING, P_FINISHING, P_STOPPING)


def dedupe_key(project: str) -> str:
    """At most one unfinished process operation per project."""
    return f"agents:process:{project}"


def _row(project: str) -> AgentProcess:
    """The project's process row, created (stopped) on first use."""
    found = db.session.scalar(
        sa.select(AgentProcess)
        .where(AgentProcess.project == project)
        .execution_options(populate_existing=True)
    )
    if found is not None:
        return found
    try:
        db.session.add(AgentProcess(project=project, output=[], updated_at=runtime().now()))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another request created it meanwhile
    return _row(project)


def status_of(project_name: str) -> dict[str, Any]:
    """The seed's status view of the project's agent process."""
    project = require_project(project_name, field="project_name")
    row = _row(project.name)
    return view(row)


def view(row: AgentProcess) -> dict[str, Any]:
    """The JSON-ready status of a process row."""
    return {
        "project": row.project,
        "status": row.status,
        "desired": row.desired,
        "pid": row.pid if row.status != P_STOPPED else None,
        "host": row.host,
        "command": row.command,
        "started_at": row.started_at,
        "stopped_at": row.stopped_at,
        "exit_code": row.exit_code,
        "output": list(row.output or []),
        "operation_id": row.operation_id,
    }


def _cas(project: str, statuses: tuple[str, ...], **values: Any) -> bool:
    values.setdefault("updated_at", runtime().now())
    done = rowcount(
        db.session.execute(
            sa.update(TABLE)
            .where(TABLE.c.project == project, TABLE.c.status.in_(statuses))
            .values(**values)
        )
    )
    db.session.commit()
    return done == 1


def start(project_name: str) -> dict[str, Any]:
    """Ask for the project's agent process to run; 409 while one is alive."""
    project = require_project(project_name, field="project_name")
    row = _row(project.name)
    command = shlex.join(command_for(project.name))
    if not _cas(
        project.name,
        (P_STOPPED,),
        status=P_STARTING,
        desired=WANT_RUNNING,
        command=command,
        exit_code=None,
        pid=None,
        pid_start=None,
        output=[],
        stopped_at=None,
        operation_id=None,  # the previous one is finished; never confuse it with the next
    ):
        row = _row(project.name)
        raise Conflict(
            f"The agent of {project.name!r} is {row.status}; stop it first.",
            code="AGENT_ALREADY_RUNNING",
            agent_status=row.status,
        )
    operation = ops.submit(
        KIND, {"project": project.name}, project=project.name, dedupe_key=dedupe_key(project.name)
    )
    _cas(project.name, ALIVE, operation_id=operation.id)
    row = _row(project.name)
    return {"success": True, "status": row.status, "message": "Agent starting", **view(row)}


def soft_stop(project_name: str) -> dict[str, Any]:
    """SIGUSR1 through the owner: claim nothing new, finish, exit 0 (``finishing``)."""
    project = require_project(project_name, field="project_name")
    row = _row(project.name)
    if not _cas(project.name, (P_STARTING, P_RUNNING), desired=WANT_SOFT_STOP, status=P_FINISHING):
        row = _row(project.name)
        if row.status == P_FINISHING:
            return {
                "success": True,
                "status": P_FINISHING,
                "message": "Soft stop already initiated, agents finishing current work",
            }
        raise Conflict(
            f"The agent of {project.name!r} is {row.status}; only a running agent can be "
            "soft-stopped.",
            code="AGENT_NOT_RUNNING",
            agent_status=row.status,
        )
    return {
        "success": True,
        "status": P_FINISHING,
        "message": "Soft stop initiated, agents finishing current work",
    }


def stop(project_name: str) -> dict[str, Any]:
    """Hard stop from any state: SIGTERM, then SIGKILL after the grace period."""
    project = require_project(project_name, field="project_name")
    row = _row(project.name)
    if row.status == P_STOPPED:
        return {"success": True, "status": P_STOPPED, "message": "Agent is not running"}
    _cas(project.name, ALIVE, desired=WANT_STOPPED, status=P_STOPPING)
    row = _row(project.name)
    if row.operation_id:
        try:
            operation = ops.cancel_operation(row.operation_id, reason="agent stopped")
        except Conflict:
            operation = None
        if operation is not None and operation.status == "cancelled":
            # No runner had it yet: nothing runs, so it is stopped now.
            _cas(project.name, ALIVE, status=P_STOPPED, stopped_at=runtime().now(), pid=None)
    row = _row(project.name)
    return {"success": True, "status": row.status, "message": "Agent stopping", **view(row)}
