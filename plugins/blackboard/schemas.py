"""Request and response schemas of the blackboard API (the seed's and Flock's fields)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate as v

from app.api import PageQuerySchema, UtcDateTime
from plugins.blackboard.matching import VISIBILITY_KINDS

NAME = v.Regexp(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$", error="1-100 letters, digits, '_', '.', '-'.")
TAG = v.Regexp(r"^[A-Za-z0-9_.:/@-]{1,64}$", error="1-64 letters, digits or _ . : / @ -.")
CORRELATION = v.Regexp(r"^[A-Za-z0-9-]{1,36}$", error="1-36 letters, digits or '-'.")


def _names(**kwargs: Any) -> ma.fields.List[Any]:
    kwargs.setdefault("validate", v.Length(max=50))
    return ma.fields.List(ma.fields.String(validate=NAME), **kwargs)


class VisibilitySchema(ma.Schema):
    """Who may see an artifact: ``public``, ``private`` (agents), ``labelled``, ``tenant``."""

    kind = ma.fields.String(load_default="public", validate=v.OneOf(VISIBILITY_KINDS))
    agents = _names()
    labels = ma.fields.List(ma.fields.String(validate=TAG), validate=v.Length(max=50))
    tenant_id = ma.fields.String(validate=v.Length(min=1, max=100))


class PublishSchema(ma.Schema):
    """``POST /api/v1/artifacts``: one artifact to publish."""

    type = ma.fields.String(required=True, validate=NAME)
    type_version = ma.fields.Integer(validate=v.Range(min=1, max=1_000_000))
    payload = ma.fields.Dict(required=True)
    produced_by = ma.fields.String(validate=NAME, metadata={"description": "Default external."})
    correlation_id = ma.fields.String(
        validate=CORRELATION, metadata={"description": "Join this correlation (default: new)."}
    )
    partition_key = ma.fields.String(validate=v.Length(min=1, max=200))
    tags = ma.fields.List(ma.fields.String(validate=TAG), validate=v.Length(max=20))
    visibility = ma.fields.Nested(VisibilitySchema)


class SyncFiltersSchema(ma.Schema):
    """The seed's ``SyncPublishFilters``: which artifacts the answer lists."""

    type_names = _names(allow_none=True)
    produced_by = _names(allow_none=True)


class SyncPublishSchema(ma.Schema):
    """The seed's ``SyncPublishRequest`` (the correlation id is always the server's)."""

    type = ma.fields.String(required=True, validate=NAME)
    payload = ma.fields.Dict(load_default=dict)
    timeout = ma.fields.Float(load_default=30.0, validate=v.Range(min=1, max=300))
    filters = ma.fields.Nested(SyncFiltersSchema, allow_none=True)


class ArtifactSchema(ma.Schema):
    """An artifact as Flock shows it."""

    id = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    type_version = ma.fields.Integer(required=True)
    payload = ma.fields.Dict(required=True)
    produced_by = ma.fields.String(required=True)
    correlation_id = ma.fields.String(required=True)
    partition_key = ma.fields.String(allow_none=True)
    tags = ma.fields.List(ma.fields.String(), required=True)
    visibility = ma.fields.Dict(required=True)
    visibility_kind = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    version = ma.fields.Integer(required=True)
    depth = ma.fields.Integer(required=True)


class PublishResponseSchema(ma.Schema):
    """``202``: the artifact is on the board; its cascade runs on the operation runners."""

    status = ma.fields.String(required=True, metadata={"description": "Always accepted."})
    correlation_id = ma.fields.String(required=True)
    artifact = ma.fields.Nested(ArtifactSchema, required=True)


class SyncPublishResponseSchema(ma.Schema):
    """The seed's ``SyncPublishResponse``."""

    correlation_id = ma.fields.String(required=True)
    artifacts = ma.fields.List(ma.fields.Nested(ArtifactSchema), required=True)
    completed = ma.fields.Boolean(required=True)
    duration_ms = ma.fields.Float(required=True)


class ArtifactQuerySchema(PageQuerySchema):
    """Flock's filters of ``GET /api/v1/artifacts`` (repeat a parameter for several values)."""

    type = _names()
    produced_by = _names()
    correlation_id = ma.fields.String(validate=CORRELATION)
    tag = ma.fields.List(ma.fields.String(validate=TAG), validate=v.Length(max=20))
    from_ = UtcDateTime(data_key="from")
    to = UtcDateTime()
    visibility = ma.fields.List(ma.fields.String(validate=v.OneOf(VISIBILITY_KINDS)))


class SummaryQuerySchema(ArtifactQuerySchema):
    """The same filters for the summary (paging ignored)."""


class PaginationSchema(ma.Schema):
    """Flock's ``pagination`` member."""

    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)


class ArtifactPageSchema(ma.Schema):
    """A page: the core's envelope plus Flock's ``pagination``."""

    items = ma.fields.List(ma.fields.Nested(ArtifactSchema), required=True)
    total = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)
    pagination = ma.fields.Nested(PaginationSchema, required=True)


class SummaryBodySchema(ma.Schema):
    """Counts of the filtered artifacts."""

    total = ma.fields.Integer(required=True)
    by_type = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    by_producer = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    by_visibility = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), required=True
    )
    earliest_created_at = ma.fields.DateTime(allow_none=True)
    latest_created_at = ma.fields.DateTime(allow_none=True)


class SummarySchema(ma.Schema):
    """``GET /api/v1/artifacts/summary``."""

    summary = ma.fields.Nested(SummaryBodySchema, required=True)


class TypeCreateSchema(ma.Schema):
    """``POST /api/v1/artifact-types``: a JSON Schema for the payloads of a type."""

    name = ma.fields.String(required=True, validate=NAME)
    version = ma.fields.Integer(validate=v.Range(min=1, max=1_000_000))
    schema = ma.fields.Dict(required=True, metadata={"description": "A JSON Schema."})
    description = ma.fields.String(validate=v.Length(max=2000))


class TypeSchema(ma.Schema):
    """An artifact type (``schema`` is null for a plugin's marshmallow type)."""

    name = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    source = ma.fields.String(required=True)
    schema = ma.fields.Dict(allow_none=True)
    description = ma.fields.String()


class TypeListSchema(ma.Schema):
    """Every artifact type."""

    types = ma.fields.List(ma.fields.Nested(TypeSchema), required=True)


class TypeQuerySchema(ma.Schema):
    """``version`` of ``GET /artifact-types/{name}`` (default: the latest)."""

    version = ma.fields.Integer(validate=v.Range(min=1, max=1_000_000))


class SubscriptionSchema(ma.Schema):
    """What an HTTP agent consumes; ``where`` is a JSON Schema the payload must satisfy."""

    types = _names(required=True, validate=v.Length(min=1, max=50))
    from_agents = _names()
    tags = ma.fields.List(ma.fields.String(validate=TAG), validate=v.Length(max=20))
    where = ma.fields.Dict(allow_none=True)


class AgentCreateSchema(ma.Schema):
    """``POST /api/v1/agents``: an HTTP agent."""

    name = ma.fields.String(required=True, validate=NAME)
    url = ma.fields.Url(
        required=True, schemes={"http", "https"}, require_tld=False, validate=v.Length(max=2000)
    )
    secret = ma.fields.String(
        required=True,
        load_only=True,
        validate=v.Length(min=16, max=500),
        metadata={"description": "HMAC key for the signature; stored encrypted, never returned."},
    )
    subscriptions = ma.fields.List(
        ma.fields.Nested(SubscriptionSchema), required=True, validate=v.Length(min=1, max=20)
    )
    labels = ma.fields.List(ma.fields.String(validate=TAG), validate=v.Length(max=50))
    tenant_id = ma.fields.String(validate=v.Length(min=1, max=100))
    timeout_seconds = ma.fields.Float(load_default=10.0, validate=v.Range(min=0.1, max=120))
    max_attempts = ma.fields.Integer(load_default=3, validate=v.Range(min=1, max=10))
    description = ma.fields.String(validate=v.Length(max=2000))


class AgentSchema(ma.Schema):
    """An agent (Python or HTTP); never its secret."""

    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    description = ma.fields.String()
    labels = ma.fields.List(ma.fields.String(), required=True)
    tenant_id = ma.fields.String(allow_none=True)
    subscriptions = ma.fields.List(ma.fields.Dict(), required=True)
    url = ma.fields.String()
    has_secret = ma.fields.Boolean()
    timeout_seconds = ma.fields.Float()
    max_attempts = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    health = ma.fields.Dict()


class AgentListSchema(ma.Schema):
    """Every agent."""

    agents = ma.fields.List(ma.fields.Nested(AgentSchema), required=True)


class RunInputSchema(ma.Schema):
    """An input artifact for ``run``, published privately to the agent first."""

    type = ma.fields.String(required=True, validate=NAME)
    payload = ma.fields.Dict(required=True)


class AgentRunSchema(ma.Schema):
    """``POST /api/v1/agents/{name}/run``: existing artifacts and/or new inputs."""

    artifact_ids = ma.fields.List(ma.fields.String(validate=CORRELATION), validate=v.Length(max=50))
    inputs = ma.fields.List(ma.fields.Nested(RunInputSchema), validate=v.Length(max=50))
    timeout = ma.fields.Float(load_default=30.0, validate=v.Range(min=1, max=300))


class RunEntrySchema(ma.Schema):
    """How the agent's run on one artifact ended."""

    artifact_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    error = ma.fields.String(allow_none=True)
    outputs = ma.fields.List(ma.fields.String(), required=True)


class AgentRunResponseSchema(ma.Schema):
    """What the run produced."""

    agent = ma.fields.String(required=True)
    runs = ma.fields.List(ma.fields.Nested(RunEntrySchema), required=True)
    artifacts = ma.fields.List(ma.fields.Nested(ArtifactSchema), required=True)
    completed = ma.fields.Boolean(required=True)


class HistorySummarySchema(ma.Schema):
    """``GET /api/v1/agents/{name}/history-summary``."""

    agent_id = ma.fields.String(required=True)
    summary = ma.fields.Dict(required=True)


class CorrelationStatusSchema(ma.Schema):
    """Flock's correlation status."""

    correlation_id = ma.fields.String(required=True)
    state = ma.fields.String(
        required=True, metadata={"description": "active|completed|failed|not_found"}
    )
    has_pending_work = ma.fields.Boolean(required=True)
    artifact_count = ma.fields.Integer(required=True)
    error_count = ma.fields.Integer(required=True)
    started_at = ma.fields.DateTime(allow_none=True)
    last_activity_at = ma.fields.DateTime(allow_none=True)
    error = ma.fields.String(allow_none=True)
