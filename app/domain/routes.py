"""HTTP routes of the shared domain: parse, call the service, respond."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.api import PageQuerySchema
from app.domain import schemas as s
from app.domain import service
from app.idempotency import idempotent

blp = Blueprint(
    "projects",
    __name__,
    url_prefix="/api/projects",
    description="Project registry, features and test runs shared by every plugin.",
)


def blueprints() -> list[Blueprint]:
    """The domain's blueprints."""
    return [blp]


@blp.get("")
@blp.arguments(PageQuerySchema, location="query", as_kwargs=True)
@blp.response(200, s.ProjectPageSchema)
def list_projects(limit: int, offset: int) -> dict[str, Any]:
    """List registered projects."""
    return service.list_projects(limit, offset)


@blp.post("")
@idempotent
@blp.arguments(s.ProjectCreateSchema)
@blp.response(201, s.ProjectSchema)
@blp.alt_response(409, schema="Problem", description="A project with that name exists.")
def create_project(data: dict[str, Any]) -> Any:
    """Register a project (its path must be an existing directory)."""
    return service.create_project(**data)


@blp.get("/<string:name>", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.response(200, s.ProjectSchema)
@blp.alt_response(404, schema="Problem")
def get_project(name: str) -> Any:
    """One project."""
    return service.get_project(name)


@blp.patch("/<string:name>", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.arguments(s.ProjectUpdateSchema)
@blp.response(200, s.ProjectSchema)
@blp.alt_response(404, schema="Problem")
def update_project(data: dict[str, Any], name: str) -> Any:
    """Change a project's path or description."""
    return service.update_project(name, data)


@blp.delete("/<string:name>", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.arguments(s.ProjectDeleteQuerySchema, location="query", as_kwargs=True)
@blp.response(204)
@blp.alt_response(409, schema="Problem", description="The project has features; use cascade.")
def delete_project(name: str, cascade: bool) -> None:
    """Delete a project; with features, only with ``?cascade=true``."""
    service.delete_project(name, cascade)


@blp.get("/<string:name>/features", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.arguments(s.FeatureQuerySchema, location="query")
@blp.response(200, s.FeaturePageSchema)
def list_features(filters: dict[str, Any], name: str) -> dict[str, Any]:
    """The project's features, lowest priority number first."""
    return service.list_features(name, filters)


@blp.post("/<string:name>/features", parameters=[s.PROJECT_NAME_PARAMETER])
@idempotent
@blp.arguments(s.FeatureCreateSchema)
@blp.response(201, s.FeatureSchema)
def create_feature(data: dict[str, Any], name: str) -> Any:
    """Add a feature."""
    return service.create_feature(name, data)


@blp.get("/<string:name>/features/<int:feature_id>", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.response(200, s.FeatureSchema)
@blp.alt_response(404, schema="Problem")
def get_feature(name: str, feature_id: int) -> Any:
    """One feature."""
    return service.get_feature(name, feature_id)


@blp.patch("/<string:name>/features/<int:feature_id>", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.arguments(s.FeatureUpdateSchema)
@blp.response(200, s.FeatureSchema)
def update_feature(data: dict[str, Any], name: str, feature_id: int) -> Any:
    """Change fields of a feature."""
    return service.update_feature(name, feature_id, data)


@blp.delete("/<string:name>/features/<int:feature_id>", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.response(204)
def delete_feature(name: str, feature_id: int) -> None:
    """Delete a feature and its test runs."""
    service.delete_feature(name, feature_id)


@blp.get(
    "/<string:name>/features/<int:feature_id>/test-runs", parameters=[s.PROJECT_NAME_PARAMETER]
)
@blp.arguments(s.TestRunQuerySchema, location="query")
@blp.response(200, s.TestRunPageSchema)
def list_feature_test_runs(filters: dict[str, Any], name: str, feature_id: int) -> Any:
    """Test runs of one feature, newest first."""
    return service.list_test_runs(name, filters, feature_id)


@blp.post(
    "/<string:name>/features/<int:feature_id>/test-runs", parameters=[s.PROJECT_NAME_PARAMETER]
)
@idempotent
@blp.arguments(s.TestRunCreateSchema)
@blp.response(201, s.TestRunSchema)
def create_test_run(data: dict[str, Any], name: str, feature_id: int) -> Any:
    """Record a test run of a feature."""
    return service.create_test_run(name, feature_id, data)


@blp.get("/<string:name>/test-runs", parameters=[s.PROJECT_NAME_PARAMETER])
@blp.arguments(s.TestRunQuerySchema, location="query")
@blp.response(200, s.TestRunPageSchema)
def list_project_test_runs(filters: dict[str, Any], name: str) -> Any:
    """Test runs of every feature of the project, newest first."""
    return service.list_test_runs(name, filters)
