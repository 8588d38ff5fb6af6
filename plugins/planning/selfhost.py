"""Self-hosting: Junction registers its own checkout as project ``junction``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.domain import Project
from app.domain import service as domain
from app.errors import JunctionError
from plugins.planning.plane_errors import PlaneError

SELF_PROJECT_NAME = "junction"
SELF_MARKERS = ("wsgi.py", "app/hookspecs.py", "pyproject.toml")


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
