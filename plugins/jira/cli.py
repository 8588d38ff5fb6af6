"""``junction jira ...``: the plugin's operator commands.

They call the same service functions as the HTTP API and print JSON on stdout; a failure is a
JSON problem on stderr with exit status 1 (:mod:`app.cli_errors`). ``export --follow`` runs the
export in this process (as a runner of the durable operation) and shows a progress bar.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from app.cli_errors import CliError, JunctionGroup
from app.db import db
from app.domain import find_project
from plugins.jira import checks, service, sessions

jira_group = JunctionGroup("jira", help="Jira Cloud export: checks, ADF, exports, results.")
PROJECT = click.option("--project", "project_name", help="Junction project (default: global).")


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@jira_group.command("test-connection")
@PROJECT
def test_connection(project_name: str | None) -> None:
    """Check the site URL, e-mail and API token (GET /rest/api/3/myself)."""
    result = checks.test_connection(find_project(project_name))
    _echo(result)
    if not result["ok"]:
        raise CliError(result["message"], code="JIRA_CONNECTION_FAILED")


@jira_group.command("validate-project")
@PROJECT
@click.argument("key")
@click.option("--requires-sprint", is_flag=True, help="Sprints are required.")
@click.option("--requires-assignee", is_flag=True, help="Assignees are required.")
@click.option("--requires-priority", is_flag=True, help="Priorities are required.")
def validate_project(
    project_name: str | None,
    key: str,
    requires_sprint: bool,
    requires_assignee: bool,
    requires_priority: bool,
) -> None:
    """Validate Jira project KEY for an export."""
    requirements = {
        "requires_sprint_assignment": requires_sprint,
        "requires_assignee": requires_assignee,
        "requires_priority_levels": requires_priority,
    }
    _echo(checks.validate_project(find_project(project_name), key, requirements))


@jira_group.command("adf")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def adf(file: Path) -> None:
    """Convert an HTML file to ADF (with warnings and figures)."""
    try:
        html = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"Cannot read {file} as UTF-8 text: {exc}", code="JIRA_BAD_FILE") from exc
    _echo(checks.adf_preview(html))


def _follow(session_id: str) -> dict[str, Any]:
    session = sessions.get_session(session_id)
    total = len(session.tickets)
    # sys.stderr itself: click.get_text_stream is deprecated since Click 8.5 (gone in 9).
    with click.progressbar(length=total, label="Exporting", file=sys.stderr) as bar:
        shown = 0
        while True:
            db.session.expire_all()
            session = sessions.get_session(session_id)
            done = sum(1 for t in session.tickets if t.jira_ticket_key)
            bar.update(done - shown)
            shown = done
            if session.status != "exporting":
                break
            time.sleep(0.5)
    return (
        service.export_results(session_id)
        if session.status == "completed"
        else {
            "session_id": session.id,
            "status": "failed",
            "failed_at_ticket_order": session.failed_at_ticket_order,
            "error_category": session.error_category,
            "user_message": session.error_message,
            "recovery_actions": list(session.recovery_actions or []),
        }
    )


@jira_group.command("export")
@click.argument("session_id")
@click.option("--follow", is_flag=True, help="Run here and show a progress bar until done.")
def export(session_id: str, follow: bool) -> None:
    """Start exporting SESSION_ID."""
    started = service.start_export(session_id)
    if not follow:
        _echo(started)
        return
    result = _follow(session_id)
    _echo(result)
    if result.get("status") == "failed":
        raise CliError(str(result.get("user_message")), code="JIRA_EXPORT_FAILED")


@jira_group.command("retry")
@click.argument("session_id")
@click.option("--follow", is_flag=True, help="Run here and show a progress bar until done.")
def retry(session_id: str, follow: bool) -> None:
    """Resume the failed export of SESSION_ID from the failed ticket."""
    started = service.retry_failed(session_id)
    if not follow:
        _echo(started)
        return
    _echo(_follow(session_id))


@jira_group.command("results")
@click.argument("session_id")
def results(session_id: str) -> None:
    """Keys, URLs, dependencies and manual fixes of SESSION_ID's export."""
    _echo(service.export_results(session_id))
