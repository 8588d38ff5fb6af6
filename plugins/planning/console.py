"""The planning panel of the web console (``/console/planning/``).

Per project: the sync status (on/off, last sync, last error, webhook count, sprint figures),
the toggle, import-cycle with a cycle picker, complete-sprint with its result and warnings, and
the release notes rendered from Markdown by the console's escaping renderer. The actions call
the same services as ``/api/planning``; failures arrive as ``app.errors`` exceptions, which the
console shows as an error notice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import request

from app.db import db
from app.domain import Project, require_project
from app.errors import JunctionError
from app.state import current_app_object
from plugins.planning import release_notes, sprint, sync
from plugins.planning.models import SprintCompletion
from plugins.planning.service import list_cycles

CHANNELS = ("planning", "projects", "operations")
CYCLE_CACHE_SECONDS = 30.0
COMPLETE_WAIT_SECONDS = 5.0  # most completions answer within the request; longer ones go on
NOTES_SHOWN = 5
_cycles: dict[tuple[int, int], tuple[float, dict[str, Any]]] = {}


def _cycles_of(project: Project) -> dict[str, Any]:
    """The project's cycles for the picker (cached briefly: a live page re-renders often, and
    MQ Planning allows 60 calls a minute), or ``{"error": ...}``."""
    key = (id(current_app_object()), project.id)
    cached = _cycles.get(key)
    if cached is not None and time.monotonic() - cached[0] < CYCLE_CACHE_SECONDS:
        return cached[1]
    try:
        answer: dict[str, Any] = {"cycles": list_cycles(project)["cycles"]}
    except JunctionError as exc:
        answer = {"error": exc.detail}
    _cycles[key] = (time.monotonic(), answer)
    return answer


def _last_completion(project: Project) -> SprintCompletion | None:
    return db.session.scalar(
        sa.select(SprintCompletion)
        .where(SprintCompletion.project_id == project.id)
        .order_by(SprintCompletion.created_at.desc(), SprintCompletion.id.desc())
        .limit(1)
    )


def _notes(project: Project) -> dict[str, Any]:
    try:
        return release_notes.page_of_notes(project.path, NOTES_SHOWN, 0)
    except (OSError, JunctionError):
        return {"items": [], "total": 0}


def _shown_notes(projects: list[Project]) -> dict[str, Any] | None:
    """The release notes picked with ``?notes=<project>&file=<name>``, read safely."""
    name, filename = request.args.get("notes"), request.args.get("file")
    if not name or not filename:
        return None
    project = next((p for p in projects if p.name == name), None)
    if project is None:
        return {"project": name, "filename": filename, "error": "No such project."}
    try:
        content = release_notes.read_notes(project.path, filename)["content"]
    except JunctionError as exc:
        return {"project": name, "filename": filename, "error": exc.detail}
    return {"project": name, "filename": filename, "content": content}


def panel_context() -> dict[str, Any]:
    """Every project's planning state for the template."""
    projects = list(db.session.scalars(sa.select(Project).order_by(Project.name)))
    picked = request.args.get("cycles")
    rows = []
    for project in projects:
        completion = _last_completion(project)
        rows.append(
            {
                "project": project,
                "status": sync.sync_status(project),
                "completion": completion.result if completion is not None else None,
                "completion_at": completion.created_at if completion is not None else None,
                "notes": _notes(project),
                "cycles": _cycles_of(project) if picked == project.name else None,
            }
        )
    return {"rows": rows, "shown_notes": _shown_notes(projects)}


# -- actions ------------------------------------------------------------------------------------


def toggle(form: Mapping[str, str]) -> str:
    """Switch the project's background sync on or off."""
    project = require_project(form.get("project_name"))
    status = sync.toggle_sync(project)
    return f"Sync for {project.name} is now {'on' if status['enabled'] else 'off'}."


def import_cycle(form: Mapping[str, str]) -> str:
    """Import the picked cycle's work items as features."""
    from plugins.planning.service import import_cycle_now

    project = require_project(form.get("project_name"))
    cycle_id = (form.get("cycle_id") or "").strip()
    if not cycle_id:
        raise JunctionError("Pick a cycle to import.", status=422, code="VALIDATION_ERROR")
    result = import_cycle_now(project, cycle_id)
    return (
        f"Imported cycle into {project.name}: {result['imported']} new, "
        f"{result['updated']} updated, {result['skipped']} skipped."
    )


def complete_sprint(form: Mapping[str, str]) -> str:
    """Complete the sprint (the picked cycle, else the active one): the result, or the
    operation that is completing it."""
    project = require_project(form.get("project_name"))
    cycle_id = (form.get("cycle_id") or "").strip() or None
    answer = sprint.start_completion(project, cycle_id, COMPLETE_WAIT_SECONDS)
    if not isinstance(answer, dict):  # 202: the durable operation is running
        body = answer.get_json(silent=True) or {}
        return (
            f"Completing the sprint of {project.name} (operation "
            f"{str(body.get('operation_id', ''))[:8]}); the result appears here when it ends."
        )
    if answer.get("error"):
        raise JunctionError(f"Sprint not completed: {answer['error']}", status=409, code="DOD")
    warnings = answer.get("warnings") or []
    tail = f" Warnings: {'; '.join(warnings)}" if warnings else ""
    return (
        f"Sprint {answer.get('cycle_name') or ''} of {project.name} completed: tag "
        f"{answer.get('git_tag')}, {answer.get('features_completed')} features.{tail}"
    )
