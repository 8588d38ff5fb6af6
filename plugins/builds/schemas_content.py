"""Schemas of the hints, logs, plan/manifest/artifacts and worker endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.api import UtcDateTime
from plugins.builds.names import STATUSES
from plugins.builds.schemas import ID_TEXT, NAME, TAG, VERSION, BuildsRecipesSchema, opt_text

# -- hints ---------------------------------------------------------------------------------------


class BuildsHintInSchema(ma.Schema):
    """Body of ``POST /hints`` and ``PUT /hints/{id}``."""

    pattern = ma.fields.String(required=True, validate=validate.Length(min=1, max=1000))
    recipes = ma.fields.Nested(BuildsRecipesSchema, load_default=dict)
    note = ma.fields.String(allow_none=True, validate=validate.Length(max=10_000))


class BuildsHintSchema(ma.Schema):
    """The seed's Hint."""

    id = ma.fields.Integer(required=True)
    pattern = ma.fields.String(required=True)
    recipes = ma.fields.Nested(BuildsRecipesSchema, required=True)
    note = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class BuildsHintListSchema(ma.Schema):
    """``{"items": [...]}``."""

    items = ma.fields.List(ma.fields.Nested(BuildsHintSchema), required=True)


# -- logs ----------------------------------------------------------------------------------------


class BuildsLogInSchema(ma.Schema):
    """Body of ``POST /logs``."""

    name = NAME
    version = VERSION
    content = ma.fields.String(required=True)
    run_id = opt_text()
    timestamp = UtcDateTime(allow_none=True)


class BuildsLogMetaSchema(ma.Schema):
    """A stored log's metadata."""

    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
    run_id = ma.fields.String(allow_none=True)
    size_bytes = ma.fields.Integer(required=True)
    compressed_bytes = ma.fields.Integer(required=True)
    truncated = ma.fields.Boolean(required=True)
    timestamp = ma.fields.DateTime(required=True)


class BuildsLogSchema(BuildsLogMetaSchema):
    """A stored log with its content."""

    content = ma.fields.String(required=True)


class BuildsLogSearchQuerySchema(ma.Schema):
    """``?q=&limit=``: words, "phrases", -exclusions, or (web search syntax)."""

    q = ma.fields.String(required=True, validate=validate.Length(min=1, max=500))
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class BuildsLogHitSchema(BuildsLogMetaSchema):
    """A matching log and an excerpt with the matches in ``<mark>`` (HTML-escaped)."""

    snippet = ma.fields.String(required=True)


class BuildsLogSearchSchema(ma.Schema):
    """Search results, newest first."""

    query = ma.fields.String(required=True)
    items = ma.fields.List(ma.fields.Nested(BuildsLogHitSchema), required=True)


class BuildsLogAppendSchema(ma.Schema):
    """Result of appending lines to a live log."""

    name = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
    first_line = ma.fields.Integer(required=True)
    count = ma.fields.Integer(required=True)


class BuildsTailQuerySchema(ma.Schema):
    """``?offset=``: the first line to send (0 = from the start)."""

    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


# -- plan, manifest, artifacts ---------------------------------------------------------------------


class BuildsPlanNodeSchema(ma.Schema):
    """The seed's plan node."""

    name = NAME
    version = VERSION
    python_tag = opt_text(TAG)
    platform_tag = opt_text(TAG)
    action = ma.fields.String(required=True, validate=validate.OneOf(["build", "reuse", "skip"]))


class BuildsPlanInSchema(ma.Schema):
    """Body of ``POST /plan``."""

    run_id = opt_text()
    plan = ma.fields.List(
        ma.fields.Nested(BuildsPlanNodeSchema), required=True, validate=validate.Length(max=100_000)
    )


class BuildsPlanSchema(ma.Schema):
    """The current plan (``id`` null before any was saved)."""

    id = ma.fields.Integer(allow_none=True)
    run_id = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime(allow_none=True)
    plan = ma.fields.List(ma.fields.Nested(BuildsPlanNodeSchema), required=True)


class BuildsManifestEntryInSchema(ma.Schema):
    """The seed's manifest entry."""

    name = NAME
    version = VERSION
    wheel = ma.fields.String(allow_none=True, validate=validate.Length(min=1, max=1024))
    python_tag = opt_text(TAG)
    platform_tag = opt_text(TAG)
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUSES))


class BuildsManifestInSchema(ma.Schema):
    """Body of ``POST /manifest``."""

    run_id = opt_text()
    entries = ma.fields.List(
        ma.fields.Nested(BuildsManifestEntryInSchema),
        required=True,
        validate=validate.Length(min=1, max=10_000),
    )


class BuildsManifestSavedSchema(ma.Schema):
    """Result of ``POST /manifest``."""

    run_id = ma.fields.String(allow_none=True)
    saved = ma.fields.Integer(required=True)


class BuildsManifestEntrySchema(BuildsManifestEntryInSchema):
    """A stored manifest entry."""

    id = ma.fields.Integer(required=True)
    run_id = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime(required=True)


class BuildsManifestSchema(ma.Schema):
    """The manifest of one run."""

    run_id = ma.fields.String(allow_none=True)
    entries = ma.fields.List(ma.fields.Nested(BuildsManifestEntrySchema), required=True)


class BuildsManifestQuerySchema(ma.Schema):
    """``?limit=`` (default 200, at most 1000) and ``run_id`` (default: the last run)."""

    limit = ma.fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    run_id = ma.fields.String(validate=validate.Regexp(ID_TEXT))


class BuildsArtifactsQuerySchema(ma.Schema):
    """``?limit=`` (default 200, at most 1000)."""

    limit = ma.fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class BuildsArtifactSchema(ma.Schema):
    """A built wheel (path or URL) from a manifest."""

    name = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
    wheel = ma.fields.String(required=True)
    filename = ma.fields.String(required=True)
    python_tag = ma.fields.String(allow_none=True)
    platform_tag = ma.fields.String(allow_none=True)
    run_id = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime(required=True)


class BuildsArtifactListSchema(ma.Schema):
    """``{"items": [...]}``, newest first."""

    items = ma.fields.List(ma.fields.Nested(BuildsArtifactSchema), required=True)


# -- workers -------------------------------------------------------------------------------------


class BuildsTriggerSchema(ma.Schema):
    """What ``POST /worker/trigger`` started."""

    detail = ma.fields.String(required=True)
    mode = ma.fields.String(required=True, validate=validate.OneOf(["local", "webhook"]))
    queue_length = ma.fields.Integer(required=True)
    operation_id = ma.fields.String(allow_none=True)
    status_url = ma.fields.String(allow_none=True)


class BuildsSmokeCheckSchema(ma.Schema):
    """One smoke check."""

    name = ma.fields.String(required=True)
    ok = ma.fields.Boolean(required=True)
    detail = ma.fields.String(required=True)


class BuildsSmokeSchema(ma.Schema):
    """Result of ``POST /worker/smoke``."""

    ok = ma.fields.Boolean(required=True)
    checks = ma.fields.List(ma.fields.Nested(BuildsSmokeCheckSchema), required=True)
