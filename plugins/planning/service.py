"""The planning plugin's logic: connection, cycles, import, sync status, polling, webhooks.

No Flask request handling here: routes parse and respond, the CLI and jobs call the same
functions. Plane failures become the seed's problem statuses through :func:`client.to_problem`.
Long work (webhook re-imports, sprint completion, MarQed imports) runs as durable operations;
:func:`submit_and_wait` starts one and waits up to the caller's budget for its result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import events, operations
from app.db import db, utcnow
from app.domain import service as domain
from app.domain.models import Project
from app.errors import JunctionError, ValidationFailed, field_error
from app.http import HttpError
from plugins.planning import config, mapping, reports
from plugins.planning.client import PlaneClient, PlaneConfig, PlaneError, to_problem
from plugins.planning.importer import import_cycle
from plugins.planning.models import SprintCompletion, SyncState, WebhookSeen
from plugins.planning.webhooks import WebhookEvent, cycle_of

log = logging.getLogger(__name__)

EXTENSION = "planning"
DEDUP_SECONDS = 5.0
BASE_BACKOFF = 30.0
MAX_BACKOFF = dt.timedelta(minutes=15)
IMPORT_KIND = "planning.import_cycle"
DEFAULT_WAIT = 20.0
SELF_PROJECT_NAME = "junction"
SELF_MARKERS = ("wsgi.py", "app/hookspecs.py", "pyproject.toml")

# Operation failure category -> the seed's HTTP status.
_CATEGORY_STATUS = {
    "auth": 401,
    "permission": 404,
    "not_found": 404,
    "validation": 400,
    "conflict": 409,
    "rate_limited": 429,
    "temporary": 502,
}
_STATUS_CATEGORY = {
    401: "auth",
    403: "permission",
    404: "not_found",
    409: "conflict",
    422: "validation",
    400: "validation",
    429: "rate_limited",
}


# -- plumbing -----------------------------------------------------------------------------------


def _extension() -> dict[str, Any]:
    return current_app.extensions.setdefault(EXTENSION, {})


def client_factory() -> Callable[[PlaneConfig], PlaneClient]:
    """How clients are made; tests replace it (fake clocks, no real sleeping)."""
    return _extension().get("client_factory") or PlaneClient


def now() -> dt.datetime:
    """The plugin's clock (``app.extensions["planning"]["clock"]`` in tests, else UTC now)."""
    clock = _extension().get("clock")
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


def resolve_project(name: str | None, required: bool = False) -> Project | None:
    """The named project (404 when unknown); ``None`` when no name is given and not required."""
    if name:
        return domain.get_project(name)
    if required:
        raise ValidationFailed(
            "project_name is required.", errors=[field_error("project_name", "Required.")]
        )
    return None


# -- durable operations -------------------------------------------------------------------------


@contextlib.contextmanager
def operation_errors() -> Iterator[None]:
    """Inside a handler: turn Plane and Junction errors into retryable or permanent failures.

    Rate limits and an unreachable Plane are retried with backoff (``Retry-After`` honoured);
    a bad key, an unknown cycle or a refused request fail the operation at once, with the
    seed's status kept as the category so the route can answer it.
    """
    try:
        yield
    except HttpError as error:
        problem = to_problem(error)
        raise _failure(problem, error.retry_after) from error
    except JunctionError as error:
        raise _failure(error, None) from error


def _failure(error: JunctionError, retry_after: float | None) -> Exception:
    category = _STATUS_CATEGORY.get(error.status, "temporary" if error.status >= 500 else "")
    if category in {"rate_limited", "temporary"}:
        header = error.headers.get("Retry-After")
        wait = retry_after if retry_after is not None else (float(header) if header else None)
        return operations.TemporaryFailure(error.detail, retry_after=wait)
    return operations.PermanentFailure(error.detail, category=category or "validation")


def submit_and_wait(
    kind: str,
    params: dict[str, Any],
    *,
    project: str | None,
    dedupe_key: str,
    wait: float,
) -> operations.Operation:
    """Submit an operation (or join the unfinished one with the same key), start a runner
    thread in this process, and wait up to ``wait`` seconds for it to finish."""
    operation = operations.submit(kind, params, project=project, dedupe_key=dedupe_key)
    # Start at once instead of at the scheduler's next tick (and without one at all).
    operations.runner_job()
    if wait > 0:
        operation = operations.wait_for(operation.id, wait)
    return operation


def operation_outcome(operation: operations.Operation) -> tuple[int, dict[str, Any]]:
    """``(200, result)`` when succeeded, ``(202, {operation_id, status_url})`` while unfinished;
    a failed or cancelled operation raises its error with the seed's status."""
    if operation.status == "succeeded":
        return 200, dict(operation.result or {})
    if operation.status in ("failed", "cancelled"):
        error = operation.error or {}
        status = _CATEGORY_STATUS.get(str(error.get("category")), 502)
        if operation.status == "cancelled":
            status = 409
        raise PlaneError(
            str(error.get("message") or f"Operation {operation.id} {operation.status}."),
            status=status,
            code=f"PLANNING_OPERATION_{operation.status.upper()}",
            operation_id=operation.id,
        )
    return 202, {
        "operation_id": operation.id,
        "status": operation.status,
        "status_url": f"/api/operations/{operation.id}",
    }


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
    names = _extension().setdefault("cycle_names", {})
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
    _record_sync(project, result, error=None, at=at, cycle=cycle)
    return result


# -- sync state ---------------------------------------------------------------------------------


def _state(project: Project) -> SyncState:
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


def _record_sync(
    project: Project,
    result: dict[str, Any] | None,
    error: str | None,
    at: dt.datetime | None = None,
    cycle: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> None:
    state = _state(project)
    at = at or now()
    if error is None:
        state.last_sync_at = at
        state.last_error = None
        state.consecutive_failures = 0
        state.backoff_until = None
        if result is not None:
            state.items_synced = int(result["imported"]) + int(result["updated"])
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


def sync_status(project: Project | None) -> dict[str, Any]:
    """The seed's sync-status body for the project (or the global configuration)."""
    values = config.effective(project)
    state = _state(project) if project is not None else None
    db.session.commit()
    active = values.get("active_cycle_id")
    enabled = bool(values.get("sync_enabled"))
    body: dict[str, Any] = {
        "enabled": enabled,
        "running": enabled and _scheduler_running(),
        "last_sync_at": state.last_sync_at if state else None,
        "last_error": state.last_error if state else None,
        "items_synced": state.items_synced if state else 0,
        "active_cycle_id": active,
        "active_cycle_name": None,
        "sprint_complete": False,
        "sprint_stats": reports.sprint_stats(project) if project else _empty_stats(),
        "last_webhook_at": state.last_webhook_at if state else None,
        "webhook_count": state.webhook_count if state else 0,
        "backoff_until": state.backoff_until if state else None,
        "poll_interval": values.get("poll_interval"),
    }
    if project is not None:
        body["project_name"] = project.name
        stats = body["sprint_stats"]
        body["sprint_complete"] = bool(stats["total"]) and stats["failed"] == 0
        if active and state is not None and state.cycle_id == active:
            body["active_cycle_name"] = state.cycle_name
        if active and body["active_cycle_name"] is None:
            done = db.session.scalar(
                sa.select(SprintCompletion.cycle_name).where(
                    SprintCompletion.project_id == project.id,
                    SprintCompletion.cycle_id == active,
                )
            )
            body["active_cycle_name"] = done
    if active and body["active_cycle_name"] is None:
        body["active_cycle_name"] = _extension().get("cycle_names", {}).get(active)
    return body


def _empty_stats() -> dict[str, Any]:
    return {"total": 0, "passing": 0, "failed": 0, "total_test_runs": 0, "overall_pass_rate": 0.0}


def _scheduler_running() -> bool:
    """Whether the scheduler that runs the poll job takes part here (leader or standby)."""
    try:
        from app import scheduler

        role = scheduler.get_service().role()
    except (ImportError, KeyError, AttributeError):  # pragma: no cover - no scheduler
        return False
    return role.startswith(("leader", "standby"))


def toggle_sync(project: Project | None) -> dict[str, Any]:
    """Flip ``sync_enabled`` for the project (or globally); the new sync status."""
    from app import settings

    values = config.effective(project)
    if not values.get("sync_enabled"):
        config.plane_config(project)  # refuse to enable an unconfigured sync
    settings.set_values(
        config.NAMESPACE,
        {"sync_enabled": not values.get("sync_enabled")},
        project.id if project else None,
    )
    return sync_status(project)


# -- polling ------------------------------------------------------------------------------------


def poll_due_projects(at: dt.datetime | None = None) -> int:
    """The sync job: re-import the active cycle of every enabled project whose interval passed.

    Skips projects in backoff (Plane rate-limiting or down: exponential from 30 s up to 15 min,
    never shorter than Plane's ``Retry-After``). Returns how many projects were polled.
    """
    at = at or now()
    polled = 0
    for project in db.session.scalars(sa.select(Project).order_by(Project.name)).all():
        values = config.effective(project)
        if not values.get("sync_enabled") or not values.get("active_cycle_id"):
            continue
        state = _state(project)
        db.session.commit()
        if state.backoff_until and state.backoff_until > at:
            continue
        interval = dt.timedelta(seconds=int(values.get("poll_interval") or 30))
        if state.last_sync_at and state.last_sync_at + interval > at:
            continue
        polled += 1
        try:
            import_cycle_now(project, values["active_cycle_id"], bucket="polling", at=at)
        except Exception as exc:  # recorded and backed off; the next project still runs
            db.session.rollback()
            message = getattr(exc, "detail", None) or str(exc)
            retry_after = _retry_after_of(exc)
            log.warning("planning poll of %s failed: %s", project.name, message)
            _record_sync(project, None, error=message, at=at, retry_after=retry_after)
    return polled


def _retry_after_of(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        return float(headers["Retry-After"]) if "Retry-After" in headers else None
    except ValueError:
        return None


# -- webhooks -----------------------------------------------------------------------------------


def seen_recently(key: str, at: dt.datetime | None = None) -> bool:
    """Record ``key``; True when it was already processed within the dedup window.

    One conditional UPDATE (or an INSERT) decides, so two workers receiving the same delivery
    cannot both process it.
    """
    at = at or now()
    window_start = at - dt.timedelta(seconds=DEDUP_SECONDS)
    table = WebhookSeen.__table__
    updated = db.session.execute(
        sa.update(table)
        .where(table.c.key == key, table.c.last_seen_at < window_start)
        .values(last_seen_at=at)
    ).rowcount
    if updated:
        db.session.commit()
        return False
    try:
        db.session.execute(sa.insert(table).values(key=key[:200], last_seen_at=at))
        db.session.commit()
        return False
    except IntegrityError:
        db.session.rollback()
        return True


def handle_webhook(event: WebhookEvent) -> dict[str, Any]:
    """Act on a verified delivery; the seed's ``{"status", "action"}`` body.

    The re-import is left to a durable operation so Plane gets its answer at once.
    """
    if seen_recently(event.dedupe_key):
        return {"status": "ok", "action": "deduped"}
    projects = _projects_for_webhook(event)
    at = now()
    for project in projects:
        state = _state(project)
        state.last_webhook_at = at
        state.webhook_count += 1
    db.session.commit()
    if event.entity not in {"issue", "cycle"} or event.action not in {"created", "updated"}:
        return {"status": "ok", "action": "ignored"}
    targets = []
    for project in projects:
        active = config.effective(project).get("active_cycle_id")
        if not active:
            continue
        if event.entity == "cycle" and event.object_id != active:
            continue
        cycle = cycle_of(event)
        if event.entity == "issue" and cycle and cycle != active:
            continue
        targets.append((project, active))
    if not targets:
        return {"status": "ok", "action": "no_active_cycle"}
    for project, cycle_id in targets:
        operations.submit(
            IMPORT_KIND,
            {"project_name": project.name, "cycle_id": cycle_id},
            project=project.name,
            dedupe_key=f"{IMPORT_KIND}:{project.name}:{cycle_id}",
        )
    # Start the re-import now in this process (the leader's runner would otherwise pick it up
    # at its next tick, and nothing would without a scheduler); the answer does not wait.
    operations.runner_job()
    events.publish(
        "planning",
        "planning.webhook",
        {"entity": event.entity, "action": event.action, "object_id": event.object_id},
    )
    return {"status": "ok", "action": "processed"}


def _projects_for_webhook(event: WebhookEvent) -> list[Project]:
    """Projects whose configured Plane project matches the delivery (all linked ones if the
    payload does not say)."""
    plane_project = event.data.get("project") or event.data.get("project_id")
    if isinstance(plane_project, dict):
        plane_project = plane_project.get("id")
    result = []
    for project in db.session.scalars(sa.select(Project).order_by(Project.name)).all():
        values = config.effective(project)
        if not values.get("project_id"):
            continue
        if plane_project and values["project_id"] != plane_project:
            continue
        result.append(project)
    return result


def import_operation(ctx: operations.OperationContext) -> dict[str, Any]:
    """Durable re-import of a cycle (from a webhook): resumable, since the import is
    idempotent (it matches features by work item id)."""
    with operation_errors():
        project = domain.get_project(ctx.params["project_name"])
        ctx.progress(0, 1, "importing cycle")
        result = import_cycle_now(project, ctx.params["cycle_id"])
    ctx.progress(1, 1, "imported")
    return {k: result[k] for k in ("imported", "updated", "skipped")}


# -- self-hosting -------------------------------------------------------------------------------


def junction_root(start: Path | None = None) -> Path:
    """Junction's own checkout: the nearest folder above this module with the marker files."""
    here = (start or Path(__file__)).resolve()
    for folder in [here, *here.parents]:
        if all((folder / marker).is_file() for marker in SELF_MARKERS):
            return folder
    raise PlaneError(
        "Junction's own checkout was not found (no folder with wsgi.py and app/hookspecs.py "
        "above the installed plugin).",
        status=404,
        code="SELF_CHECKOUT_NOT_FOUND",
    )


def self_host_setup(root: Path | None = None) -> dict[str, Any]:
    """Register Junction's checkout as project ``junction`` (idempotent)."""
    path = str(root or junction_root())
    existing = db.session.scalar(sa.select(Project).where(Project.name == SELF_PROJECT_NAME))
    if existing is None:
        existing = db.session.scalar(sa.select(Project).where(Project.path == path))
    if existing is not None:
        return {
            "project_name": existing.name,
            "project_path": existing.path,
            "already_registered": True,
        }
    try:
        project = domain.create_project(
            SELF_PROJECT_NAME, path, "Junction itself (registered by self-host-setup)."
        )
    except JunctionError as exc:
        if exc.status != 409:
            raise
        # Registered by a concurrent call between our read and our insert.
        project = domain.get_project(SELF_PROJECT_NAME)
        return {
            "project_name": project.name,
            "project_path": project.path,
            "already_registered": True,
        }
    return {"project_name": project.name, "project_path": project.path, "already_registered": False}
