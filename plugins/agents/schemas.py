"""Request and response schemas of the agents API (the seed's shapes, plus Junction's)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.api import DB_INT_MAX, DbInteger, PageQuerySchema, PageSchema
from plugins.agents.events import EVENT_TYPES
from plugins.agents.models import PHASES, STATUSES

NAME = validate.Length(min=1, max=255)
STATUS = ma.fields.String(validate=validate.OneOf(STATUSES))


class SkipPageQuerySchema(PageQuerySchema):
    """The core's ``limit``/``offset`` and the seed's ``skip`` (an alias of ``offset``)."""

    skip = ma.fields.Integer(
        validate=validate.Range(min=0, max=DB_INT_MAX),
        metadata={"description": "Items to skip (the seed's name for `offset`)."},
    )

    @ma.validates_schema
    def _one_offset(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "skip" in data and data.get("offset") not in (0, data["skip"]):
            raise ma.ValidationError("Give skip or offset, not both with different values.", "skip")

    @ma.post_load
    def _alias(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        skip = data.pop("skip", None)
        if skip is not None:
            data["offset"] = skip
        return data


class SeedPageSchema(PageSchema):
    """The page envelope with the seed's ``skip`` beside the core's ``offset``."""

    skip = ma.fields.Integer(required=True)

    @ma.pre_dump
    def _skip(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "skip": data["offset"]}


def seed_page_of(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """``{items, total, skip, limit, offset}`` of ``item``."""
    return type(
        name, (SeedPageSchema,), {"items": ma.fields.List(ma.fields.Nested(item), required=True)}
    )


# -- tasks ---------------------------------------------------------------------------------------


class TaskCreateSchema(ma.Schema):
    """Body of ``POST /api/tasks/``."""

    name = ma.fields.String(required=True, validate=NAME)
    description = ma.fields.String(load_default="", validate=validate.Length(max=20000))
    team = ma.fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "An installed agent team (`echo` when omitted)."},
    )
    config = ma.fields.Dict(metadata={"description": "The team's config (its own schema)."})
    max_rounds = ma.fields.Integer(load_default=5, validate=validate.Range(min=1, max=1000))
    project = ma.fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "A registered Junction project (its directory is the cwd)."},
    )
    require_approval = ma.fields.Boolean(
        load_default=True, metadata={"description": "Park runs for plan approval."}
    )
    approval_timeout = ma.fields.Float(
        load_default=300.0,
        validate=validate.Range(min=1, max=7 * 24 * 3600),
        metadata={"description": "Seconds a run waits for the decision before `timeout`."},
    )


class TaskUpdateSchema(ma.Schema):
    """Body of ``PATCH /api/tasks/{task_id}``: any field of the create body."""

    name = ma.fields.String(validate=NAME)
    description = ma.fields.String(validate=validate.Length(max=20000))
    team = ma.fields.String(validate=validate.Length(min=1, max=100))
    config = ma.fields.Dict()
    max_rounds = ma.fields.Integer(validate=validate.Range(min=1, max=1000))
    project = ma.fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    require_approval = ma.fields.Boolean()
    approval_timeout = ma.fields.Float(validate=validate.Range(min=1, max=7 * 24 * 3600))


class TaskSchema(ma.Schema):
    """A task with its run counts and success rate."""

    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    team = ma.fields.String(required=True)
    config = ma.fields.Dict(required=True)
    max_rounds = ma.fields.Integer(required=True)
    project = ma.fields.String(allow_none=True, required=True)
    require_approval = ma.fields.Boolean(required=True)
    approval_timeout = ma.fields.Float(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUSES))
    total_runs = ma.fields.Integer(required=True)
    successful_runs = ma.fields.Integer(required=True)
    failed_runs = ma.fields.Integer(required=True)
    success_rate = ma.fields.Float(required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class TaskQuerySchema(SkipPageQuerySchema):
    """Filters of ``GET /api/tasks/``."""

    status = STATUS
    team = ma.fields.String(validate=validate.Length(min=1, max=100))
    project = ma.fields.String(validate=validate.Length(min=1, max=64))


TaskPageSchema = seed_page_of(TaskSchema, "TaskPageSchema")


class TeamSchema(ma.Schema):
    """An installed agent team."""

    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    config_schema = ma.fields.Dict(required=True)


class TeamListSchema(ma.Schema):
    """The installed teams."""

    items = ma.fields.List(ma.fields.Nested(TeamSchema), required=True)


# -- runs ----------------------------------------------------------------------------------------


class RunCreateSchema(ma.Schema):
    """Body of ``POST /api/runs/``."""

    task_id = DbInteger(required=True, min=1)


class RunUpdateSchema(ma.Schema):
    """Body of ``PATCH /api/runs/{run_id}``: cancel the run."""

    status = ma.fields.String(
        required=True,
        validate=validate.OneOf(["cancelled"], error="Only status 'cancelled' can be set."),
    )
    reason = ma.fields.String(validate=validate.Length(max=2000))


class RunApprovalSchema(ma.Schema):
    """Body of ``POST /api/runs/{run_id}/approve`` (the seed's ``RunApprovalRequest``)."""

    approved = ma.fields.Boolean(required=True)
    feedback = ma.fields.String(allow_none=True, validate=validate.Length(max=20000))


class RunSchema(ma.Schema):
    """A run: status (the seed's), phase inside ``running``, plan, decision, timing."""

    id = ma.fields.Integer(required=True)
    task_id = ma.fields.Integer(required=True)
    run_number = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUSES))
    phase = ma.fields.String(required=True, validate=validate.OneOf(PHASES))
    plan = ma.fields.Dict(allow_none=True, required=True)
    awaiting_approval = ma.fields.Method("_awaiting", required=True)
    approval_deadline = ma.fields.DateTime(allow_none=True, required=True)
    approved = ma.fields.Boolean(allow_none=True, required=True)
    feedback = ma.fields.String(allow_none=True, required=True)
    decided_at = ma.fields.DateTime(allow_none=True, required=True)
    cancel_requested = ma.fields.Boolean(required=True)
    operation_id = ma.fields.String(allow_none=True, required=True)
    error = ma.fields.String(allow_none=True, required=True)
    result = ma.fields.Dict(allow_none=True, required=True)
    started_at = ma.fields.DateTime(allow_none=True, required=True)
    finished_at = ma.fields.DateTime(allow_none=True, required=True)
    duration = ma.fields.Float(allow_none=True, required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)

    def _awaiting(self, run: Any) -> bool:
        return bool(run.status == "running" and run.phase == "awaiting_approval")


class RunQuerySchema(SkipPageQuerySchema):
    """Filters of ``GET /api/runs/``."""

    task_id = DbInteger(min=1)
    status = STATUS
    phase = ma.fields.String(validate=validate.OneOf(PHASES))


RunPageSchema = seed_page_of(RunSchema, "RunPageSchema")


class LogQuerySchema(SkipPageQuerySchema):
    """``GET /api/runs/{run_id}/logs``: lines after ``after`` (an id), oldest first."""

    after = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**63 - 1))


class LogLineSchema(ma.Schema):
    """One line of a run's log."""

    id = ma.fields.Integer(required=True)
    run_id = ma.fields.Integer(required=True)
    step_id = ma.fields.String(allow_none=True, required=True)
    stream = ma.fields.String(required=True)
    line = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)


# A base made at run time (seed_page_of) is a dynamic base class to a type checker.
class LogPageSchema(seed_page_of(LogLineSchema, "_LogPage")):  # type: ignore[misc]
    """A page of log lines; poll again with ``after=last_id``, or follow ``/ws/runs/{id}``."""

    run_id = ma.fields.Integer(required=True)
    last_id = ma.fields.Integer(required=True)


# -- metrics -------------------------------------------------------------------------------------


class MetricSchema(ma.Schema):
    """One recorded metric value."""

    id = ma.fields.Integer(required=True)
    task_id = ma.fields.Integer(required=True)
    run_id = ma.fields.Integer(allow_none=True, required=True)
    name = ma.fields.String(required=True)
    value = ma.fields.Float(required=True)
    unit = ma.fields.String(required=True)
    labels = ma.fields.Dict(required=True)
    timestamp = ma.fields.DateTime(attribute="created_at", required=True)


class MetricQuerySchema(SkipPageQuerySchema):
    """Filters of ``GET /api/metrics/``."""

    task_id = DbInteger(min=1)
    run_id = DbInteger(min=1)
    name = ma.fields.String(validate=validate.Length(min=1, max=100))


MetricPageSchema = seed_page_of(MetricSchema, "MetricPageSchema")


class AggregateSchema(ma.Schema):
    """Aggregates of one metric name."""

    min = ma.fields.Float(required=True)
    max = ma.fields.Float(required=True)
    avg = ma.fields.Float(required=True)
    last = ma.fields.Float(required=True)
    count = ma.fields.Integer(required=True)
    unit = ma.fields.String(required=True)


class TaskSummarySchema(ma.Schema):
    """``GET /api/metrics/task/{task_id}/summary``."""

    task_id = ma.fields.Integer(required=True)
    total_runs = ma.fields.Integer(required=True)
    successful_runs = ma.fields.Integer(required=True)
    failed_runs = ma.fields.Integer(required=True)
    success_rate = ma.fields.Float(required=True)
    metrics = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(AggregateSchema), required=True
    )


class RunSummarySchema(ma.Schema):
    """``GET /api/metrics/run/{run_id}/summary``."""

    run_id = ma.fields.Integer(required=True)
    task_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    duration = ma.fields.Float(allow_none=True, required=True)
    metrics = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(AggregateSchema), required=True
    )


class EventPayloadSchema(ma.Schema):
    """The seed's ``EventPayload`` (the ``data`` of each event on the agents channels)."""

    event_type = ma.fields.String(required=True, validate=validate.OneOf([*EVENT_TYPES, "log"]))
    timestamp = ma.fields.String(required=True)
    task_id = ma.fields.Integer(required=True)
    run_id = ma.fields.Integer(allow_none=True, required=True)
    data = ma.fields.Dict(required=True)
    message = ma.fields.String(allow_none=True, required=True)
