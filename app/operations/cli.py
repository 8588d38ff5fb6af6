"""``flask junction operations ...``: list, show, submit, cancel, and run a runner."""

from __future__ import annotations

import json
import time

import click
from flask import current_app
from flask.cli import AppGroup

from app.operations import service
from app.operations.runner import run_pending
from app.operations.runtime import runtime

operations_group = AppGroup("operations", help="Durable long-running operations.")


@operations_group.command("list")
@click.option("--kind")
@click.option("--status")
@click.option("--project")
@click.option("--limit", default=50, show_default=True)
def list_command(kind: str | None, status: str | None, project: str | None, limit: int) -> None:
    """List operations, newest first."""
    filters = {"kind": kind, "status": status, "project": project}
    page = service.list_operations(filters, limit, 0)
    for op in page["items"]:
        progress = op.progress or {}
        done = f"{progress.get('done')}/{progress.get('total')}" if progress else "-"
        click.echo(
            f"{op.id}  {op.status:<9} {op.kind:<28} attempts {op.attempts}/{op.max_attempts}"
            f"  progress {done}"
        )
    click.echo(f"({len(page['items'])} of {page['total']})")


@operations_group.command("show")
@click.argument("operation_id")
def show_command(operation_id: str) -> None:
    """Print one operation as JSON."""
    op = service.get_operation(operation_id)
    click.echo(
        json.dumps({**op.public(), "params": op.params, "checkpoint": op.checkpoint}, indent=2)
    )


@operations_group.command("submit")
@click.argument("kind")
@click.option("--params", "params_json", default="{}", help="Parameters as a JSON object.")
@click.option("--project")
@click.option("--dedupe-key")
def submit_command(
    kind: str, params_json: str, project: str | None, dedupe_key: str | None
) -> None:
    """Submit an operation of KIND and print its id."""
    params = json.loads(params_json)
    op = service.submit(kind, params, project=project, dedupe_key=dedupe_key)
    click.echo(op.id)


@operations_group.command("cancel")
@click.argument("operation_id")
def cancel_command(operation_id: str) -> None:
    """Cancel an operation (pending: at once; running: at its next check)."""
    op = service.cancel_operation(operation_id)
    click.echo(f"{op.id} {op.status} (cancel requested: {op.cancel_requested})")


@operations_group.command("run")
@click.option(
    "--wait",
    is_flag=True,
    help="Keep polling until no operation of a known kind is unfinished (leases included).",
)
@click.option("--forever", is_flag=True, help="Keep polling for new operations until killed.")
@click.option("--poll", default=None, type=float, help="Seconds between polls when idle.")
def run_command(wait: bool, forever: bool, poll: float | None) -> None:
    """Run due operations in this process (a runner without the scheduler).

    Without options it runs what is due now and exits.
    """
    interval = poll if poll is not None else runtime().poll_interval
    kinds = list(service.handlers(current_app))
    total = 0
    while True:
        total += run_pending()
        if not forever and (not wait or service.unfinished_count(kinds) == 0):
            break
        time.sleep(interval)
    click.echo(f"ran {total} operation(s)")
