"""``junction agents ...``: tasks, runs, approve, logs (``--follow``).

The commands call the same service functions as the HTTP API and print JSON on stdout; a
failure is one JSON problem on stderr with exit status 1 (:mod:`app.cli_errors`).
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from app.cli_errors import JunctionGroup
from plugins.agents import runs, schemas, tasks
from plugins.agents.models import FINISHED, STATUSES

agents_group = JunctionGroup("agents", help="Agent tasks, runs, approvals, logs.")


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@agents_group.command("tasks")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--team")
@click.option("--project")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def tasks_command(status: str | None, team: str | None, project: str | None, limit: int) -> None:
    """List tasks, newest first."""
    page = tasks.list_tasks({"status": status, "team": team, "project": project}, limit, 0)
    _echo(schemas.TaskPageSchema().dump(page))


@agents_group.command("runs")
@click.option("--task", "task_id", type=int)
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--awaiting", is_flag=True, help="Only runs awaiting approval.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def runs_command(task_id: int | None, status: str | None, awaiting: bool, limit: int) -> None:
    """List runs, newest first."""
    filters = {"task_id": task_id, "status": status}
    if awaiting:
        filters["phase"] = "awaiting_approval"
    _echo(schemas.RunPageSchema().dump(runs.list_runs(filters, limit, 0)))


@agents_group.command("approve")
@click.argument("run_id", type=int)
@click.option("--reject", is_flag=True, help="Reject the plan instead.")
@click.option("--feedback", help="A note kept with the decision.")
def approve_command(run_id: int, reject: bool, feedback: str | None) -> None:
    """Approve (or ``--reject``) the plan of a run awaiting approval."""
    run = runs.approve(run_id, not reject, feedback)
    _echo(schemas.RunSchema().dump(run))


@agents_group.command("logs")
@click.argument("run_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.option("--interval", type=float, default=0.5, show_default=True, hidden=True)
def logs_command(run_id: int, follow: bool, interval: float) -> None:
    """Print a run's log lines; with ``--follow`` until the run ends, with its progress."""
    after = 0
    shown_phase = None
    while True:
        page = runs.list_logs(run_id, after, 500, 0)
        for line in page["items"]:
            prefix = f"[{line.step_id}] " if line.step_id else ""
            click.echo(f"{prefix}{line.line}", err=line.stream == "stderr")
        after = page["last_id"]
        if not follow:
            return
        run = runs.get_run(run_id)
        steps = (run.plan or {}).get("steps") or []
        if run.phase != shown_phase:
            shown_phase = run.phase
            click.echo(f"-- {run.status} / {run.phase} ({len(steps)} step(s))", err=True)
        if run.status in FINISHED and not page["items"]:
            click.echo(
                f"-- run {run_id} {run.status}" + (f": {run.error}" if run.error else ""), err=True
            )
            return
        if not page["items"]:
            time.sleep(interval)


@agents_group.command("orchestrate")
@click.argument("project")
def orchestrate_command(project: str) -> None:
    """Work PROJECT's features to green (the reference orchestrator; SIGUSR1 = soft stop)."""
    from plugins.agents.orchestrator import Orchestrator

    orchestrator = Orchestrator(project)
    orchestrator.install_signals()
    code = orchestrator.run()
    if code:
        raise SystemExit(code)
