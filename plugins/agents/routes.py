"""HTTP API of the agents plugin (thin: parse, call the service, respond).

``/api/tasks/``, ``/api/runs/`` and ``/api/metrics/`` are the seed's paths.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.idempotency import idempotent
from plugins.agents import metrics, runs, tasks
from plugins.agents import schemas as s
from plugins.agents.models import AgentMetric
from plugins.agents.teams import teams

tasks_blp = Blueprint(
    "agents_tasks", __name__, url_prefix="/api/tasks", description="Agent tasks (agents plugin)."
)
runs_blp = Blueprint(
    "agents_runs",
    __name__,
    url_prefix="/api/runs",
    description="Agent runs: execution, plan approval, logs (agents plugin).",
)
metrics_blp = Blueprint(
    "agents_metrics",
    __name__,
    url_prefix="/api/metrics",
    description="Metrics of agent tasks and runs (agents plugin).",
)


# -- tasks ---------------------------------------------------------------------------------------


@tasks_blp.get("/")
@tasks_blp.arguments(s.TaskQuerySchema, location="query")
@tasks_blp.response(200, s.TaskPageSchema)
def list_tasks(query: dict[str, Any]) -> dict[str, Any]:
    """Tasks, newest first; filter by status, team, project; page with skip or offset."""
    limit, offset = query.pop("limit"), query.pop("offset")
    return tasks.list_tasks(query, limit, offset)


@tasks_blp.post("/")
@idempotent
@tasks_blp.arguments(s.TaskCreateSchema)
@tasks_blp.response(201, s.TaskSchema)
@tasks_blp.alt_response(404, schema="Problem", description="Unknown project.")
def create_task(data: dict[str, Any]) -> Any:
    """Create a task (the team's config is checked against the team's schema)."""
    return tasks.create_task(data)


@tasks_blp.get("/teams")
@tasks_blp.response(200, s.TeamListSchema)
def list_teams() -> dict[str, Any]:
    """The installed agent teams with their config schemas."""
    return {
        "items": [
            {"name": t.name, "description": t.description, "config_schema": t.config_schema}
            for _, t in sorted(teams().items())
        ]
    }


@tasks_blp.get("/<int:task_id>")
@tasks_blp.response(200, s.TaskSchema)
@tasks_blp.alt_response(404, schema="Problem")
def get_task(task_id: int) -> Any:
    """One task."""
    return tasks.get_task(task_id)


@tasks_blp.patch("/<int:task_id>")
@idempotent
@tasks_blp.arguments(s.TaskUpdateSchema)
@tasks_blp.response(200, s.TaskSchema)
@tasks_blp.alt_response(404, schema="Problem")
def update_task(data: dict[str, Any], task_id: int) -> Any:
    """Change a task."""
    return tasks.update_task(task_id, data)


@tasks_blp.delete("/<int:task_id>")
@tasks_blp.response(204)
@tasks_blp.alt_response(404, schema="Problem")
@tasks_blp.alt_response(409, schema="Problem", description="The task has an active run.")
def delete_task(task_id: int) -> None:
    """Delete a task with its runs and metrics."""
    tasks.delete_task(task_id)


# -- runs ----------------------------------------------------------------------------------------


@runs_blp.get("/")
@runs_blp.arguments(s.RunQuerySchema, location="query")
@runs_blp.response(200, s.RunPageSchema)
def list_runs(query: dict[str, Any]) -> dict[str, Any]:
    """Runs, newest first; filter by task, status, phase (`awaiting_approval`...)."""
    limit, offset = query.pop("limit"), query.pop("offset")
    return runs.list_runs(query, limit, offset)


@runs_blp.post("/")
@idempotent
@runs_blp.arguments(s.RunCreateSchema)
@runs_blp.response(201, s.RunSchema)
@runs_blp.alt_response(404, schema="Problem", description="Unknown task.")
def create_run(data: dict[str, Any]) -> Any:
    """Create a run of a task; its execution starts in the background (durably)."""
    return runs.create_run(data["task_id"])


@runs_blp.get("/<int:run_id>")
@runs_blp.response(200, s.RunSchema)
@runs_blp.alt_response(404, schema="Problem")
def get_run(run_id: int) -> Any:
    """One run."""
    return runs.get_run(run_id)


@runs_blp.patch("/<int:run_id>")
@idempotent
@runs_blp.arguments(s.RunUpdateSchema)
@runs_blp.response(200, s.RunSchema)
@runs_blp.alt_response(404, schema="Problem")
@runs_blp.alt_response(409, schema="Problem", description="The run already ended.")
def update_run(data: dict[str, Any], run_id: int) -> Any:
    """Cancel a run (`{"status": "cancelled"}`)."""
    return runs.cancel_run(run_id, data.get("reason"))


@runs_blp.delete("/<int:run_id>")
@runs_blp.response(204)
@runs_blp.alt_response(404, schema="Problem")
@runs_blp.alt_response(409, schema="Problem", description="The run is active.")
def delete_run(run_id: int) -> None:
    """Delete a finished run."""
    runs.delete_run(run_id)


@runs_blp.post("/<int:run_id>/approve")
@idempotent
@runs_blp.arguments(s.RunApprovalSchema)
@runs_blp.response(200, s.RunSchema)
@runs_blp.alt_response(404, schema="Problem")
@runs_blp.alt_response(
    409, schema="Problem", description="The run does not await approval (or was decided)."
)
def approve_run(data: dict[str, Any], run_id: int) -> Any:
    """Approve or reject the run's plan, exactly once, while it awaits approval."""
    return runs.approve(run_id, data["approved"], data.get("feedback"))


@runs_blp.get("/<int:run_id>/logs")
@runs_blp.arguments(s.LogQuerySchema, location="query")
@runs_blp.response(200, s.LogPageSchema)
@runs_blp.alt_response(404, schema="Problem")
def run_logs(query: dict[str, Any], run_id: int) -> dict[str, Any]:
    """The run's log lines after `after`, oldest first (live: `ws /ws/runs/{run_id}`)."""
    return runs.list_logs(run_id, query["after"], query["limit"], query["offset"])


# -- metrics -------------------------------------------------------------------------------------


@metrics_blp.get("/")
@metrics_blp.arguments(s.MetricQuerySchema, location="query")
@metrics_blp.response(200, s.MetricPageSchema)
def list_metrics(query: dict[str, Any]) -> dict[str, Any]:
    """Metrics, newest first; filter by task, run and name."""
    limit, offset = query.pop("limit"), query.pop("offset")
    return metrics.list_metrics(query, limit, offset)


@metrics_blp.get("/<int:metric_id>")
@metrics_blp.response(200, s.MetricSchema)
@metrics_blp.alt_response(404, schema="Problem")
def get_metric(metric_id: int) -> Any:
    """One metric value."""
    return metrics.get_metric(metric_id)


@metrics_blp.get("/task/<int:task_id>/summary")
@metrics_blp.response(200, s.TaskSummarySchema)
@metrics_blp.alt_response(404, schema="Problem")
def task_summary(task_id: int) -> dict[str, Any]:
    """Min, max, avg, last and count per metric name over the task's runs."""
    task = tasks.get_task(task_id)
    return {
        "task_id": task.id,
        "total_runs": task.total_runs,
        "successful_runs": task.successful_runs,
        "failed_runs": task.failed_runs,
        "success_rate": task.success_rate,
        "metrics": metrics.summary(AgentMetric.task_id, task.id),
    }


@metrics_blp.get("/run/<int:run_id>/summary")
@metrics_blp.response(200, s.RunSummarySchema)
@metrics_blp.alt_response(404, schema="Problem")
def run_summary(run_id: int) -> dict[str, Any]:
    """Min, max, avg, last and count per metric name of one run."""
    run = runs.get_run(run_id)
    return {
        "run_id": run.id,
        "task_id": run.task_id,
        "status": run.status,
        "duration": run.duration,
        "metrics": metrics.summary(AgentMetric.run_id, run.id),
    }


def blueprints() -> list[Blueprint]:
    """Every API blueprint of the plugin."""
    return [tasks_blp, runs_blp, metrics_blp]
