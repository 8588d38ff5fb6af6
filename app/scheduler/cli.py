"""``junction jobs`` (list, run one) and ``junction worker``."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click
from flask.cli import with_appcontext

from app.scheduler.service import get_service, list_jobs, run_job_once
from app.state import current_app_object

# -- CLI ---------------------------------------------------------------------------------------


def register_cli(group: click.Group) -> None:
    """Add ``jobs`` (list / run one) and ``worker`` to the ``junction`` group."""

    @group.group("jobs", invoke_without_command=True)
    @click.pass_context
    @with_appcontext  # AppGroup wraps commands, not a group's own callback
    def jobs_group(ctx: click.Context) -> None:
        """List the declared jobs (``jobs run ID`` runs one now)."""
        if ctx.invoked_subcommand is None:
            _print_jobs()

    @jobs_group.command("list")
    def jobs_list() -> None:
        """List the declared jobs."""
        _print_jobs()

    @jobs_group.command("run")
    @click.argument("job_id")
    def jobs_run(job_id: str) -> None:
        """Run one job now in this process, whatever the leader does."""
        try:
            run = run_job_once(current_app_object(), job_id)
        except KeyError as exc:
            raise click.ClickException(f"no job {job_id!r} (see `junction jobs`)") from exc
        click.echo(f"{run.job_id}: {run.outcome} in {run.duration:.3f}s")
        if run.error:
            click.echo(f"error: {run.error}", err=True)
            sys.exit(1)

    @group.command("worker")
    def worker_command() -> None:
        """Run a dedicated scheduler process: join the election, lead or stand by, until
        SIGTERM or SIGINT."""
        service = get_service()
        if service.mode == "off":
            raise click.ClickException("JUNCTION_SCHEDULER=off: nothing to run")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        service.start()
        click.echo(f"scheduler worker pid {os.getpid()}: {len(service.jobs())} job(s) declared")
        while not stop.wait(0.5):
            pass
        click.echo("scheduler worker stopping")
        service.stop(wait=True)


def _print_jobs() -> None:
    items = list_jobs(current_app_object())
    if not items:
        click.echo("no jobs declared")
    for item in items:
        click.echo(
            f"{item['id']:<32} every {item['seconds']:>8g}s  {item['owner']:<12} {item['func']}"
        )
