"""``/api/projects/{project_name}/agent/...`` (seed 000): start, stop, soft-stop, status.

A blueprint of its own (``agents_projects``) under the core domain's ``/api/projects`` prefix:
the DESIGN's API map gives these paths to the ``agents`` plugin.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from app.domain.schemas import PROJECT_NAME_PARAMETER
from app.idempotency import idempotent
from plugins.agents import processes
from plugins.agents.models import OUTPUT_LINES, PROCESS_STATUSES

process_blp = Blueprint(
    "agents_projects",
    __name__,
    url_prefix="/api/projects",
    description="Each project's agent process: start, soft stop, stop, status (agents plugin).",
)


class AgentStatusSchema(ma.Schema):
    """The agent process of a project."""

    project = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(PROCESS_STATUSES))
    desired = ma.fields.String(required=True)
    pid = ma.fields.Integer(allow_none=True, required=True)
    host = ma.fields.String(allow_none=True, required=True)
    command = ma.fields.String(allow_none=True, required=True)
    started_at = ma.fields.DateTime(allow_none=True, required=True)
    stopped_at = ma.fields.DateTime(allow_none=True, required=True)
    exit_code = ma.fields.Integer(allow_none=True, required=True)
    output = ma.fields.List(ma.fields.String(), required=True)
    operation_id = ma.fields.String(allow_none=True, required=True)


class AgentStatusQuerySchema(ma.Schema):
    """``?lines=N``: how many of the last output lines to show."""

    lines = ma.fields.Integer(
        load_default=OUTPUT_LINES,
        validate=ma.validate.Range(min=0, max=OUTPUT_LINES),
        metadata={"description": f"Last output lines to return (0..{OUTPUT_LINES})."},
    )


class AgentActionSchema(ma.Schema):
    """The seed's answer to start/stop/soft-stop: ``{success, status, message}``."""

    success = ma.fields.Boolean(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(PROCESS_STATUSES))
    message = ma.fields.String(required=True)


# The core's project-name parameter under this path's name, so clients (and fuzzers) know the
# form; an unknown project is a 404.
PROJECT_PARAMETER: dict[str, Any] = {**PROJECT_NAME_PARAMETER, "name": "project_name"}


@process_blp.post("/<string:project_name>/agent/start", parameters=[PROJECT_PARAMETER])
@idempotent
@process_blp.response(200, AgentActionSchema)
@process_blp.alt_response(404, schema="Problem", description="Unknown project.")
@process_blp.alt_response(409, schema="Problem", description="The agent is already alive.")
def start_agent(project_name: str) -> dict[str, Any]:
    """Start the project's agent process (owned by an operation runner, not this worker)."""
    return processes.start(project_name)


@process_blp.post("/<string:project_name>/agent/soft-stop", parameters=[PROJECT_PARAMETER])
@process_blp.response(200, AgentActionSchema)
@process_blp.alt_response(404, schema="Problem")
@process_blp.alt_response(409, schema="Problem", description="The agent is not running.")
def soft_stop_agent(project_name: str) -> dict[str, Any]:
    """SIGUSR1: claim no new features, finish current work, exit 0 (`finishing`)."""
    return processes.soft_stop(project_name)


@process_blp.post("/<string:project_name>/agent/stop", parameters=[PROJECT_PARAMETER])
@process_blp.response(200, AgentActionSchema)
@process_blp.alt_response(404, schema="Problem")
def stop_agent(project_name: str) -> dict[str, Any]:
    """Hard stop from any state: SIGTERM, then SIGKILL after the grace period."""
    return processes.stop(project_name)


@process_blp.get("/<string:project_name>/agent/status", parameters=[PROJECT_PARAMETER])
@process_blp.arguments(AgentStatusQuerySchema, location="query", as_kwargs=True)
@process_blp.response(200, AgentStatusSchema)
@process_blp.alt_response(404, schema="Problem")
def agent_status(project_name: str, lines: int) -> dict[str, Any]:
    """Status, pid, start time, exit code and the last lines of output."""
    body = processes.status_of(project_name)
    body["output"] = body["output"][-lines:] if lines else []
    return body
