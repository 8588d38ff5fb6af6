"""Project registry, features and test runs: the logic, without Flask request handling.

Every write validates completely before touching the session and commits once, so a rejected
request leaves nothing behind. Each change publishes a domain event on channel ``projects``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import events
from app.api import paginate
from app.db import db, iso_text
from app.domain.models import Feature, Project, TestRun
from app.domain.paths import normalised, path_problem
from app.errors import Conflict, NotFound, ValidationFailed, field_error

CHANNEL = "projects"


# -- projects -----------------------------------------------------------------------------------


def _check_path(path: str) -> str:
    problem = path_problem(path)
    if problem is None:
        return normalised(path)
    if problem["code"] == "not_a_directory":
        detail = f"path {path!r} is not an existing directory on the Junction host."
    else:
        detail = "path must be absolute."
    raise ValidationFailed(detail, errors=[problem])


def project_event_data(project: Project) -> dict[str, Any]:
    """The payload of a project event."""
    return {"name": project.name, "path": project.path, "description": project.description}


def get_project(name: str) -> Project:
    """The project named ``name``, or :class:`NotFound`."""
    project = db.session.scalar(sa.select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"No project named {name!r}. Register it with POST /api/projects.")
    return project


def require_project(name: str | None, *, field: str = "project_name") -> Project:
    """The project named ``name``: 404 when unknown, 422 naming ``field`` when no name is given.

    What a plugin's route or CLI command calls with the ``project_name`` it was given.
    """
    if not name:
        raise ValidationFailed(
            f"{field} is required.", errors=[field_error(field, "Required.", "required")]
        )
    return get_project(name)


def find_project(name: str | None) -> Project | None:
    """The project named ``name`` (404 when unknown), or ``None`` when no name is given.

    For endpoints where the project is optional (a global configuration otherwise).
    """
    return get_project(name) if name else None


# What a project page shows (``ProjectSchema``): the list reads these columns as rows instead of
# loading ORM objects into the session, which it would only read and discard. One statement
# object for every request: ``paginate`` keeps its page statement and cache key with it.
# The timestamps are read as their answer text (``iso_text``): the rows are only dumped.
_PROJECT_LIST_QUERY = sa.select(
    Project.name,
    Project.path,
    Project.description,
    iso_text(Project.created_at),
    iso_text(Project.updated_at),
).order_by(Project.name)


def list_projects(limit: int, offset: int) -> dict[str, Any]:
    """A page of projects in name order; the items are read-only rows keyed by column name."""
    return paginate(_PROJECT_LIST_QUERY, limit, offset, rows=True)


def create_project(name: str, path: str, description: str = "") -> Project:
    """Register a project; 409 when the name is taken."""
    path = _check_path(path)
    if db.session.scalar(sa.select(Project.id).where(Project.name == name)) is not None:
        raise Conflict(f"A project named {name!r} already exists.", code="PROJECT_EXISTS")
    project = Project(name=name, path=path, description=description)
    db.session.add(project)
    _commit_unique(f"A project named {name!r} already exists.")
    events.publish(CHANNEL, "project.created", project_event_data(project))
    return project


def update_project(name: str, changes: dict[str, Any]) -> Project:
    """Change a project's path or description."""
    project = get_project(name)
    if "path" in changes:
        changes["path"] = _check_path(changes["path"])
    for key, value in changes.items():
        setattr(project, key, value)
    db.session.commit()
    events.publish(CHANNEL, "project.updated", project_event_data(project))
    return project


def delete_project(name: str, cascade: bool) -> None:
    """Delete a project; one with features needs ``cascade`` and takes them along."""
    project = get_project(name)
    count = db.session.scalar(
        sa.select(sa.func.count(Feature.id)).where(Feature.project_id == project.id)
    )
    if count and not cascade:
        raise Conflict(
            f"Project {name!r} has {count} feature(s); repeat with ?cascade=true to delete "
            "them and their test runs too.",
            code="PROJECT_NOT_EMPTY",
        )
    db.session.delete(project)
    db.session.commit()
    events.publish(CHANNEL, "project.deleted", {"name": name, "features_deleted": count or 0})


# -- features -----------------------------------------------------------------------------------


def feature_event_data(feature: Feature) -> dict[str, Any]:
    """The payload of a feature event."""
    return {
        "project": feature.project.name,
        "id": feature.id,
        "name": feature.name,
        "passes": feature.passes,
        "in_progress": feature.in_progress,
        "planning_work_item_id": feature.planning_work_item_id,
    }


def get_feature(project_name: str, feature_id: int) -> Feature:
    """Feature ``feature_id`` of the project, or :class:`NotFound`."""
    project = get_project(project_name)
    feature = db.session.get(Feature, feature_id)
    if feature is None or feature.project_id != project.id:
        raise NotFound(f"Project {project_name!r} has no feature {feature_id}.")
    return feature


def list_features(project_name: str, filters: dict[str, Any]) -> dict[str, Any]:
    """A page of the project's features, priority first, with the given filters."""
    project = get_project(project_name)
    query = sa.select(Feature).where(Feature.project_id == project.id)
    for column in ("passes", "in_progress", "category"):
        if column in filters:
            query = query.where(getattr(Feature, column) == filters[column])
    if "linked" in filters:
        linked = Feature.planning_work_item_id.is_not(None)
        query = query.where(linked if filters["linked"] else sa.not_(linked))
    query = query.order_by(Feature.priority, Feature.id)
    return paginate(query, filters["limit"], filters["offset"])


def _check_dependencies(project: Project, deps: Iterable[int], self_id: int | None) -> list[int]:
    deps = list(dict.fromkeys(deps))
    if self_id is not None and self_id in deps:
        raise ValidationFailed(
            "A feature cannot depend on itself.",
            errors=[field_error("dependencies", "Contains the feature itself.", "self_reference")],
        )
    if deps:
        found = set(
            db.session.scalars(
                sa.select(Feature.id).where(Feature.project_id == project.id, Feature.id.in_(deps))
            )
        )
        missing = [d for d in deps if d not in found]
        if missing:
            raise ValidationFailed(
                f"Unknown feature id(s) in dependencies: {missing}.",
                errors=[
                    field_error("dependencies", f"No feature {d} in this project.", "unknown_id")
                    for d in missing
                ],
            )
    return deps


def _check_work_item_unique(work_item_id: str | None, self_id: int | None) -> None:
    if work_item_id is None:
        return
    other = db.session.scalar(
        sa.select(Feature.id).where(Feature.planning_work_item_id == work_item_id)
    )
    if other is not None and other != self_id:
        raise Conflict(
            f"Planning work item {work_item_id!r} is already linked to feature {other}.",
            code="WORK_ITEM_LINKED",
        )


def create_feature(project_name: str, data: dict[str, Any]) -> Feature:
    """Add a feature to the project."""
    project = get_project(project_name)
    data = dict(data)
    data["dependencies"] = _check_dependencies(project, data.get("dependencies", []), None)
    _check_work_item_unique(data.get("planning_work_item_id"), None)
    feature = Feature(project=project, **data)
    db.session.add(feature)
    _commit_unique("That planning work item is already linked to another feature.")
    events.publish(CHANNEL, "feature.created", feature_event_data(feature))
    return feature


def update_feature(project_name: str, feature_id: int, changes: dict[str, Any]) -> Feature:
    """Change fields of a feature."""
    feature = get_feature(project_name, feature_id)
    if "dependencies" in changes:
        changes["dependencies"] = _check_dependencies(
            feature.project, changes["dependencies"], feature.id
        )
    if "planning_work_item_id" in changes:
        _check_work_item_unique(changes["planning_work_item_id"], feature.id)
    for key, value in changes.items():
        setattr(feature, key, value)
    _commit_unique("That planning work item is already linked to another feature.")
    events.publish(CHANNEL, "feature.updated", feature_event_data(feature))
    return feature


def delete_feature(project_name: str, feature_id: int) -> None:
    """Delete a feature and its test runs; other features stop depending on it."""
    feature = get_feature(project_name, feature_id)
    data = feature_event_data(feature)
    dependants = db.session.scalars(
        sa.select(Feature).where(Feature.project_id == feature.project_id, Feature.id != feature_id)
    ).all()
    for other in dependants:
        if feature_id in (other.dependencies or []):
            other.dependencies = [d for d in other.dependencies if d != feature_id]
    db.session.delete(feature)
    db.session.commit()
    events.publish(CHANNEL, "feature.deleted", data)


# -- test runs ----------------------------------------------------------------------------------


def list_test_runs(
    project_name: str, filters: dict[str, Any], feature_id: int | None = None
) -> dict[str, Any]:
    """A page of test runs, newest first, for one feature or the whole project."""
    project = get_project(project_name)
    if feature_id is not None:
        get_feature(project_name, feature_id)
    query = sa.select(TestRun).join(Feature).where(Feature.project_id == project.id)
    feature_id = feature_id if feature_id is not None else filters.get("feature_id")
    if feature_id is not None:
        query = query.where(TestRun.feature_id == feature_id)
    for column in ("passed", "agent_type"):
        if column in filters:
            query = query.where(getattr(TestRun, column) == filters[column])
    query = query.order_by(TestRun.started_at.desc(), TestRun.id.desc())
    return paginate(query, filters["limit"], filters["offset"])


def create_test_run(project_name: str, feature_id: int, data: dict[str, Any]) -> TestRun:
    """Record a test run of a feature."""
    feature = get_feature(project_name, feature_id)
    run = TestRun(feature=feature, **data)
    db.session.add(run)
    db.session.commit()
    events.publish(
        CHANNEL,
        "test_run.created",
        {"project": project_name, "feature_id": feature.id, "id": run.id, "passed": run.passed},
    )
    return run


def _commit_unique(message: str) -> None:
    """Commit; a unique-constraint race lost to another worker becomes a 409, not a 500."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(message) from exc
