"""Request and response schemas of ``/api/operations``."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.api import PageQuerySchema, page_of
from app.operations.models import STATUSES


class ProgressSchema(ma.Schema):
    """How far a running operation got."""

    done = ma.fields.Integer(allow_none=True)
    total = ma.fields.Integer(allow_none=True)
    message = ma.fields.String(allow_none=True)
    percent = ma.fields.Float(allow_none=True)


class ProblemMembersSchema(ma.Schema):
    """The problem a request waiting for the operation answers when it fails."""

    status = ma.fields.Integer()
    code = ma.fields.String()
    title = ma.fields.String()
    errors = ma.fields.List(ma.fields.Dict())
    extra = ma.fields.Dict(metadata={"description": "Extra members of the problem document."})


class OperationErrorSchema(ma.Schema):
    """Why the last attempt failed: a message and a category for clients to act on."""

    message = ma.fields.String(required=True)
    category = ma.fields.String(
        required=True,
        metadata={
            "description": "temporary, rate_limited, auth, validation, internal, abandoned..."
        },
    )
    type = ma.fields.String()
    attempt = ma.fields.Integer()
    retry_in = ma.fields.Float(metadata={"description": "Seconds until the next attempt."})
    problem = ma.fields.Nested(ProblemMembersSchema)


class WaitQuerySchema(ma.Schema):
    """``?wait=`` seconds a request waits for its durable operation before answering 202."""

    wait = ma.fields.Float(
        load_default=20.0,
        validate=validate.Range(min=0, max=300),
        metadata={"description": "Seconds to wait for the result (0..300, default 20)."},
    )


class AcceptedSchema(ma.Schema):
    """202: the work goes on as a durable operation; poll ``status_url``."""

    operation_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    status_url = ma.fields.String(required=True)


class OperationSchema(ma.Schema):
    """A durable long-running operation."""

    id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUSES))
    project = ma.fields.String(allow_none=True, required=True)
    progress = ma.fields.Nested(ProgressSchema, required=True)
    params = ma.fields.Dict(required=True)
    checkpoint = ma.fields.Dict(required=True)
    result = ma.fields.Raw(allow_none=True, required=True)
    error = ma.fields.Nested(OperationErrorSchema, allow_none=True, required=True)
    attempts = ma.fields.Integer(required=True)
    max_attempts = ma.fields.Integer(required=True)
    cancel_requested = ma.fields.Boolean(required=True)
    dedupe_key = ma.fields.String(allow_none=True, required=True)
    lease_owner = ma.fields.String(allow_none=True, required=True)
    lease_expires_at = ma.fields.DateTime(allow_none=True, required=True)
    next_attempt_at = ma.fields.DateTime(allow_none=True, required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)
    started_at = ma.fields.DateTime(allow_none=True, required=True)
    finished_at = ma.fields.DateTime(allow_none=True, required=True)


OperationPageSchema = page_of(OperationSchema)


class OperationQuerySchema(PageQuerySchema):
    """Filters of ``GET /api/operations`` plus the page."""

    kind = ma.fields.String(validate=validate.Length(min=1, max=100))
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    project = ma.fields.String(validate=validate.Length(min=1, max=64))


class CancelRequestSchema(ma.Schema):
    """Optional body of ``POST /api/operations/{id}/cancel``."""

    reason = ma.fields.String(
        validate=validate.Length(max=1000),
        metadata={"description": "Why; stored in the operation's error when it ends cancelled."},
    )


class RetryRequestSchema(ma.Schema):
    """Optional body of ``POST /api/operations/{id}/retry``."""

    max_attempts = ma.fields.Integer(
        validate=validate.Range(min=1, max=100),
        metadata={"description": "A new attempt limit (default: keep the current one)."},
    )
