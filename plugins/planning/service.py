"""The planning plugin's Plane plumbing: clients, clock, connection check, cycles and import.

No Flask request handling here: routes parse and respond, the CLI and jobs call the same
functions. Plane failures become the seed's problem statuses through
:func:`plane_errors.to_problem`; inside durable operations the core runner keeps those problems
(retrying 429 and 5xx), so a request waiting for the operation answers the same status. The
sync job is in :mod:`~plugins.planning.sync`, webhooks in :mod:`~plugins.planning.webhooks`,
self-hosting in :mod:`~plugins.planning.selfhost`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import operations
from app.db import db, utcnow
from app.domain import Project, require_project
from app.errors import JunctionError
from app.http import HttpError
from plugins.planning import config, mapping
from plugins.planning.client import PlaneClient
from plugins.planning.importer import import_cycle
from plugins.planning.models import SyncState
from plugins.planning.plane_errors import PlaneError, to_problem
from plugins.planning.plane_http import PlaneConfig

log = logging.getLogger(__name__)

EXTENSION = "planning"
BASE_BACKOFF = 30.0
MAX_BACKOFF = dt.timedelta(minutes=15)
IMPORT_KIND = "planning.import_cycle"


# -- plumbing -----------------------------------------------------------------------------------


def extension() -> dict[str, Any]:
    """The plugin's per-app state (``app.extensions["planning"]``)."""
    state: dict[str, Any] = current_app.extensions.setdefault(EXTENSION, {})
    return state


def client_factory() -> Callable[[PlaneConfig], PlaneClient]:
    """How clients are made; tests replace it (fake clocks, no real sleeping)."""
    return extension().get("client_factory") or PlaneClient


def now() -> dt.datetime:
    """The plugin's clock (``app.extensions["planning"]["clock"]`` in tests, else UTC now)."""
    clock = extension().get("clock")
    return clock() if clock is not None else utcnow()


@contextlib.contextmanager
def plane(project: Project | None, what: str = "MQ Planning project") -> Iterator[PlaneClient]:
    """A client for the project's configuration; Plane errors become problem documents."""
    client = client_factory()(config.plane_config(project))
    try:
        yield client
    except HttpError as error:
        raise to_problem(error, what) from error
    finally:
        client.close()


# -- connection and cycles ----------------------------------------------------------------------


def test_connection(project: Project | None) -> dict[str, Any]:
    """Check the key, the workspace and the project; the seed's ok/error body.

    A failure is reported in the seed's ``{"status": "error"}`` shape (not raised): the caller
    asked whether the connection works, and "no" is a valid answer.
    """
    try:
        cfg = config.plane_config(project)
    except JunctionError as exc:
        message = "Invalid API key" if exc.status == 401 else "MQ Planning is not configured"
        return {"status": "error", "message": message, "details": exc.detail}
    client = client_factory()(cfg)
    try:
        info = client.project()
        version = client.instance_version()
    except HttpError as error:
        problem = to_problem(error, "Project")
        remote = error.remote_message or str(error)
        if error.status is None:
            details = f"MQ Planning API unreachable: {remote}"
        else:
            details = f"HTTP {problem.status} from MQ Planning API (Plane: {remote})"
        return {"status": "error", "message": _connection_message(problem), "details": details}
    finally:
        client.close()
    return {
        "status": "ok",
        "workspace": cfg.workspace_slug,
        "project_name": info.get("name"),
        "planning_version": version,
    }


def _connection_message(problem: PlaneError) -> str:
    return {
        401: "Invalid API key",
        404: "Workspace or project not found",
        429: "Rate limit reached",
        400: "Request refused",
    }.get(problem.status, "MQ Planning API unreachable")


def list_cycles(project: Project | None, at: dt.datetime | None = None) -> dict[str, Any]:
    """The project's cycles with a status computed from the dates and the issue counts."""
    at = at or now()
    with plane(project) as client:
        cycles = client.cycles()
    items = [
        {
            "id": cycle["id"],
            "name": cycle.get("name", ""),
            "start_date": (cycle.get("start_date") or "")[:10] or None,
            "end_date": (cycle.get("end_date") or "")[:10] or None,
            "status": mapping.cycle_status(cycle, at),
            "total_issues": int(cycle.get("total_issues") or 0),
            "completed_issues": int(cycle.get("completed_issues") or 0),
        }
        for cycle in cycles
    ]
    names = extension().setdefault("cycle_names", {})
    names.update({c["id"]: c["name"] for c in items})
    order = {"current": 0, "upcoming": 1, "draft": 2, "completed": 3}
    items.sort(key=lambda c: (order[c["status"]], c["start_date"] or ""))
    return {"cycles": items}


def import_cycle_now(
    project: Project,
    cycle_id: str,
    bucket: str = "import",
    at: dt.datetime | None = None,
    on_page: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Import one cycle into the project's features (the seed's response)."""
    with plane(project, "Cycle") as client:
        # Plane answers an unknown cycle's work-item list with an empty page, so check it.
        cycle = client.cycle(cycle_id, bucket=bucket)
        result = import_cycle(project, cycle_id, client, bucket=bucket, on_page=on_page)
    record_sync(project, result, error=None, at=at, cycle=cycle)
    return result


# -- sync state ---------------------------------------------------------------------------------


def sync_state(project: Project) -> SyncState:
    """The project's sync state row (created on first use)."""
    state = db.session.scalar(sa.select(SyncState).where(SyncState.project_id == project.id))
    if state is None:
        state = SyncState(
            project_id=project.id, items_synced=0, webhook_count=0, consecutive_failures=0
        )
        db.session.add(state)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            state = db.session.scalar(
                sa.select(SyncState).where(SyncState.project_id == project.id)
            )
            assert state is not None
    return state


def record_sync(
    project: Project,
    result: dict[str, Any] | None,
    error: str | None,
    at: dt.datetime | None = None,
    cycle: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> None:
    """Record a sync: its result, or its error with exponential backoff (never shorter than
    Plane's ``Retry-After``)."""
    state = sync_state(project)
    at = at or now()
    if error is None:
        state.last_sync_at = at
        state.last_error = None
        state.consecutive_failures = 0
        state.backoff_until = None
        changed = int(result["imported"]) + int(result["updated"]) if result is not None else 0
        # The work items the last sync that changed anything created or updated: a re-import
        # that finds everything up to date (a webhook, the next poll) keeps the number.
        if changed:
            state.items_synced = changed
        if cycle is not None:
            state.cycle_id, state.cycle_name = str(cycle.get("id")), str(cycle.get("name") or "")
    else:
        state.last_error = error[:2000]
        state.consecutive_failures += 1
        # Exponential backoff, never shorter than what Plane asked for (Retry-After).
        delay = BASE_BACKOFF * 2 ** min(state.consecutive_failures - 1, 10)
        delay = max(delay, retry_after or 0.0)
        state.backoff_until = at + min(MAX_BACKOFF, dt.timedelta(seconds=delay))
    db.session.commit()


def import_operation(ctx: operations.OperationContext) -> dict[str, Any]:
    """Durable re-import of a cycle (from a webhook): resumable, since the import is
    idempotent (it matches features by work item id)."""
    # Plane failures arrive as problems (plane() maps them); the runner keeps each problem,
    # retrying rate limits and outages, failing the rest at once.
    project = require_project(ctx.params["project_name"])
    ctx.progress(0, 1, "importing cycle")
    result = import_cycle_now(project, ctx.params["cycle_id"])
    ctx.progress(1, 1, "imported")
    return {k: result[k] for k in ("imported", "updated", "skipped")}
