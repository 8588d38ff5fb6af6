"""Request and response schemas of the shared domain."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.api import DbInteger, PageQuerySchema, UtcDateTime, page_of
from app.db import utcnow
from app.domain.paths import MAX_PATH, path_problem

# Python's $ also matches before a trailing newline; (?!\n) refuses it and, unlike \Z, is valid
# in the ECMA patterns of the OpenAPI document, which shows this very pattern.
PROJECT_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(?!\n)$"
PROJECT_NAME_ERROR = "Use 1-64 letters, digits, '-' or '_', starting with a letter or digit."
# Text without NUL characters: the core refuses them in every JSON string and query value
# (PostgreSQL cannot store them), so free-text fields document it.
TEXT_PATTERN = r"^[^\u0000]*$"
# Absolute, or under the home directory (``~`` is expanded); that the directory exists on the
# Junction host is checked but cannot be said in a pattern.
DIRECTORY_PATTERN = r"^(?:/|~/)[^\u0000]*$"
AGENT_TYPES = ("testing", "coding")


# The ``{name}`` path parameter of ``/api/projects/{name}/...``, documented with the naming rule
# (a name that breaks it can only be a 404). Routes pass it as ``parameters=[...]``.
PROJECT_NAME_PARAMETER: dict[str, Any] = {
    "in": "path",
    "name": "name",
    "description": "The project's name (1-64 letters, digits, '-' or '_').",
    "schema": {"type": "string", "pattern": PROJECT_NAME_RE},
}


def project_name_field(
    *, description: str = "A registered Junction project.", **kwargs: Any
) -> ma.fields.String:
    """A ``project_name`` field (query or body) with the registry's naming rule.

    The pattern is the rule ``POST /api/projects`` applies, so a client generated from the
    OpenAPI document sends well-formed names; that the project exists cannot be expressed in a
    schema -- the endpoint answers 404 for a name nobody registered, which ``description``
    should say.
    """
    return ma.fields.String(
        validate=validate.Regexp(PROJECT_NAME_RE, error=PROJECT_NAME_ERROR),
        metadata={"description": description},
        **kwargs,
    )


class ProjectSchema(ma.Schema):
    """A registered project."""

    name = ma.fields.String(required=True)
    path = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


def _existing_directory(value: str) -> None:
    """Field validator: the path check runs with the other fields' checks, so one 422 lists
    every bad field (an empty name *and* a missing directory)."""
    problem = path_problem(value)
    if problem is not None:
        raise ma.ValidationError(problem["message"])


class ProjectCreateSchema(ma.Schema):
    """Body of ``POST /api/projects``."""

    name = ma.fields.String(
        required=True,
        validate=validate.Regexp(PROJECT_NAME_RE, error=PROJECT_NAME_ERROR),
        metadata={"description": "Unique name: 1-64 letters, digits, '-' or '_'."},
    )
    path = ma.fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_PATH), _existing_directory],
        metadata={
            "description": "An existing directory on the Junction host: an absolute path, or "
            "one under `~/`.",
            # Documents the absolute-path rule; ``_existing_directory`` checks it with existence.
            "pattern": DIRECTORY_PATTERN,
        },
    )
    description = ma.fields.String(
        load_default="", validate=validate.Length(max=10_000), metadata={"pattern": TEXT_PATTERN}
    )


class ProjectUpdateSchema(ma.Schema):
    """Body of ``PATCH /api/projects/{name}``; every field optional."""

    path = ma.fields.String(
        validate=[validate.Length(min=1, max=MAX_PATH), _existing_directory],
        metadata={
            "description": "An existing directory on the Junction host: an absolute path, or "
            "one under `~/`.",
            "pattern": DIRECTORY_PATTERN,
        },
    )
    description = ma.fields.String(
        validate=validate.Length(max=10_000), metadata={"pattern": TEXT_PATTERN}
    )


class ProjectDeleteQuerySchema(ma.Schema):
    """``cascade=true`` also deletes the project's features and test runs."""

    cascade = ma.fields.Boolean(load_default=False)


class FeatureSchema(ma.Schema):
    """A feature of a project."""

    id = ma.fields.Integer(required=True)
    project = ma.fields.String(required=True, attribute="project.name")
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    priority = ma.fields.Integer(required=True)
    category = ma.fields.String(required=True)
    steps = ma.fields.List(ma.fields.Raw(), required=True)
    dependencies = ma.fields.List(ma.fields.Integer(), required=True)
    acceptance_criteria = ma.fields.List(ma.fields.Raw(), required=True)
    passes = ma.fields.Boolean(required=True)
    in_progress = ma.fields.Boolean(required=True)
    planning_work_item_id = ma.fields.String(allow_none=True, required=True)
    planning_synced_at = ma.fields.DateTime(allow_none=True, required=True)
    planning_updated_at = ma.fields.DateTime(allow_none=True, required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


def _feature_fields(required_name: bool) -> dict[str, ma.fields.Field[Any]]:
    return {
        "name": ma.fields.String(required=required_name, validate=validate.Length(min=1, max=255)),
        "description": ma.fields.String(validate=validate.Length(max=100_000)),
        "priority": ma.fields.Integer(validate=validate.Range(min=0, max=1_000_000)),
        "category": ma.fields.String(validate=validate.Length(max=100)),
        "steps": ma.fields.List(ma.fields.String(validate=validate.Length(max=10_000))),
        "dependencies": ma.fields.List(DbInteger(min=1), validate=validate.Length(max=1000)),
        "acceptance_criteria": ma.fields.List(
            ma.fields.String(validate=validate.Length(max=10_000))
        ),
        "passes": ma.fields.Boolean(),
        "in_progress": ma.fields.Boolean(),
        "planning_work_item_id": ma.fields.String(
            allow_none=True, validate=validate.Length(min=1, max=64)
        ),
        "planning_synced_at": UtcDateTime(allow_none=True),
        "planning_updated_at": UtcDateTime(allow_none=True),
    }


FeatureCreateSchema = ma.Schema.from_dict(_feature_fields(True), name="FeatureCreateSchema")
FeatureUpdateSchema = ma.Schema.from_dict(_feature_fields(False), name="FeatureUpdateSchema")


class FeatureQuerySchema(PageQuerySchema):
    """Filters of the feature list."""

    passes = ma.fields.Boolean()
    in_progress = ma.fields.Boolean()
    category = ma.fields.String(validate=validate.Length(max=100))
    linked = ma.fields.Boolean(
        metadata={"description": "true: only features linked to a planning work item."}
    )


class TestRunSchema(ma.Schema):
    """One test run of a feature."""

    __test__ = False

    id = ma.fields.Integer(required=True)
    feature_id = ma.fields.Integer(required=True)
    passed = ma.fields.Boolean(required=True)
    agent_type = ma.fields.String(required=True, validate=validate.OneOf(AGENT_TYPES))
    started_at = ma.fields.DateTime(required=True)
    completed_at = ma.fields.DateTime(allow_none=True, required=True)
    return_code = ma.fields.Integer(allow_none=True, required=True)


class TestRunCreateSchema(ma.Schema):
    """Body of ``POST .../features/{id}/test-runs``."""

    __test__ = False

    passed = ma.fields.Boolean(required=True)
    agent_type = ma.fields.String(required=True, validate=validate.OneOf(AGENT_TYPES))
    started_at = UtcDateTime(
        load_default=utcnow,
        metadata={"description": "When the run started; default: when it is recorded (now)."},
    )
    completed_at = UtcDateTime(allow_none=True, load_default=None)
    return_code = ma.fields.Integer(
        allow_none=True, load_default=None, validate=validate.Range(min=-255, max=255)
    )

    @ma.validates_schema
    def _completed_after_start(self, data: dict[str, Any], **_: object) -> None:
        completed, started = data.get("completed_at"), data.get("started_at")
        if completed is not None and started is not None and completed < started:
            raise ma.ValidationError("must not be before started_at", "completed_at")


class TestRunQuerySchema(PageQuerySchema):
    """Filters of the test-run lists."""

    __test__ = False

    passed = ma.fields.Boolean()
    agent_type = ma.fields.String(validate=validate.OneOf(AGENT_TYPES))
    feature_id = DbInteger(min=1)


ProjectPageSchema = page_of(ProjectSchema)
FeaturePageSchema = page_of(FeatureSchema)
TestRunPageSchema = page_of(TestRunSchema)
