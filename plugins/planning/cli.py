"""``junction planning ...`` (or ``flask --app wsgi junction planning ...``): the plugin's
operator commands.

They call the same service functions as the HTTP API (so the same errors, budgets and
operations apply) and print JSON on stdout. A failure is one JSON problem document on stderr
(the HTTP API's members: ``type``, ``title``, ``status``, ``detail``, ``code``, ``errors``) and
exit status 1, as for every ``junction`` command (:mod:`app.cli_errors`): service errors simply
propagate, the commands' own failures raise :class:`~app.cli_errors.CliError`. The long ones
show click progress bars: ``import-cycle`` per page of the cycle, ``marqed-import`` per created
object of its durable operation.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import marshmallow as ma

from app import operations
from app.cli_errors import CliError, JunctionGroup
from app.domain import find_project, require_project
from app.errors import ValidationFailed, flatten_messages
from plugins.planning import config, marqed_import, service
from plugins.planning.plane_errors import plane_id
from plugins.planning.schemas import ConfigUpdateSchema

planning_group = JunctionGroup(
    "planning", help="MQ Planning (Plane) sync: config, cycles, imports."
)
config_group = JunctionGroup("config", help="Show or change the planning configuration.")
planning_group.add_command(config_group)

PROJECT = click.option("--project", "project_name", help="Junction project (default: global).")


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@config_group.command("show")
@PROJECT
def config_show(project_name: str | None) -> None:
    """Print the configuration (secrets masked)."""
    _echo(config.public_config(find_project(project_name)))


@config_group.command("set")
@PROJECT
@click.argument("assignments", nargs=-1, required=True)
def config_set(project_name: str | None, assignments: tuple[str, ...]) -> None:
    """Set values: ``planning config set api_url=https://plane.example.com api_key=...``.

    Names may omit the ``planning_`` prefix; ``key=`` (empty) clears a value.
    """
    raw: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.strip():
            raise CliError(
                f"{assignment!r} is not KEY=VALUE: write e.g. poll_interval=60 (key= clears it).",
                code="INVALID_ASSIGNMENT",
            )
        name = name.strip()
        raw[name if name.startswith(config.API_PREFIX) else config.API_PREFIX + name] = (
            value if value != "" else None
        )
    try:
        values = ConfigUpdateSchema().load(raw)
    except ma.ValidationError as exc:
        errors = flatten_messages(exc.messages)
        raise ValidationFailed(
            "Invalid configuration values: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            errors=errors,
        ) from None
    _echo(config.update_config(values, find_project(project_name)))


@planning_group.command("test-connection")
@PROJECT
def test_connection(project_name: str | None) -> None:
    """Check the API key, workspace and project (exit 1 when the answer is ``error``)."""
    result = service.test_connection(find_project(project_name))
    _echo(result)
    if result["status"] != "ok":
        # The seed's {"status": "error", ...} body is the answer itself (stdout).
        raise click.exceptions.Exit(1)


@planning_group.command("cycles")
@PROJECT
def cycles(project_name: str | None) -> None:
    """List the project's cycles with their status."""
    result = service.list_cycles(find_project(project_name))
    for cycle in result["cycles"]:
        click.echo(
            f"{cycle['id']}  {cycle['status']:<9} {cycle['start_date'] or '-':<10} "
            f"{cycle['end_date'] or '-':<10} {cycle['completed_issues']}/{cycle['total_issues']}"
            f"  {cycle['name']}"
        )


@planning_group.command("import-cycle")
@click.option("--project", "project_name", required=True, help="Junction project to import into.")
@click.argument("cycle_id")
def import_cycle(project_name: str, cycle_id: str) -> None:
    """Import a cycle's work items as features (progress per page of the cycle)."""
    project = require_project(project_name)
    plane_id(cycle_id)  # a bad id is refused before the progress bar starts
    with click.progressbar(length=1, label="Fetching work items", file=sys.stderr) as bar:

        def on_page(fetched: int, total: int | None) -> None:
            bar.length = max(total or fetched, 1)
            bar.update(fetched - bar.pos)

        result = service.import_cycle_now(project, cycle_id, on_page=on_page)
    click.echo(
        f"imported {result['imported']}, updated {result['updated']}, skipped {result['skipped']}",
        err=True,
    )
    _echo(result)


@planning_group.command("marqed-import")
# Not click's exists=True: a missing tree is the command's failure (a JSON problem, exit 1).
@click.argument("marqed_dir", type=click.Path(resolve_path=True))
@click.option("--cycle", "cycle_id", help="Add the created work items to this cycle.")
@PROJECT
def marqed_import_command(marqed_dir: str, cycle_id: str | None, project_name: str | None) -> None:
    """Import a MarQed tree as Plane modules and work items (a durable operation)."""
    operation = operations.submit_and_wait(
        **marqed_import.submission(marqed_dir, cycle_id, project_name)
    )
    operation_id = operation.id
    with click.progressbar(length=1, label="Importing", file=sys.stderr) as bar:
        while not operation.finished:
            operations.runner_job()  # keeps a runner thread going in this process
            operation = operations.wait_for(operation_id, 0.5)
            progress = operation.progress or {}
            if progress.get("total"):
                bar.length = int(progress["total"])
                bar.update(int(progress.get("done") or 0) - bar.pos)
    result = operations.outcome(operation) or {}  # a failed import raises its problem
    click.echo(
        f"created {result['created']} ({result['modules_created']} modules, "
        f"{result['work_items_created']} work items), existing {result['existing']}, "
        f"errors {result['errors']}",
        err=True,
    )
    _echo(result)
