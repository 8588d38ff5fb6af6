"""Request and response schemas of the builds API (the seed's shapes, names prefixed Builds)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.api import PageQuerySchema, UtcDateTime, page_of
from plugins.builds.names import STATUSES

ID_TEXT = r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}(?!\n)$"
TAG = r"^[A-Za-z0-9_.]{1,128}(?!\n)$"
NAME = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
VERSION = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
PACKAGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}(?!\n)$"


def opt_text(pattern: str = ID_TEXT, **kw: Any) -> ma.fields.String:
    """An optional, nullable string field matching ``pattern``."""
    return ma.fields.String(allow_none=True, validate=validate.Regexp(pattern), **kw)


class BuildsRecipesSchema(ma.Schema):
    """System packages that fix a build: ``{"dnf": [...], "apt": [...]}``."""

    dnf = ma.fields.List(
        ma.fields.String(validate=validate.Regexp(PACKAGE_NAME)),
        load_default=list,
        validate=validate.Length(max=100),
    )
    apt = ma.fields.List(
        ma.fields.String(validate=validate.Regexp(PACKAGE_NAME)),
        load_default=list,
        validate=validate.Length(max=100),
    )


class BuildsPageQuerySchema(PageQuerySchema):
    """``?limit=`` (default 50, at most 500) and ``offset``."""


class BuildsTokenSchema(ma.Schema):
    """Body of ``POST /session/token``."""

    token = ma.fields.String(required=True, validate=validate.Length(min=1, max=1024))


# -- events --------------------------------------------------------------------------------------


class BuildsEventInSchema(ma.Schema):
    """One build event as a worker reports it."""

    event_id = opt_text(
        metadata={"description": "The client's id of the event: sending it again stores nothing."}
    )
    run_id = opt_text()
    name = NAME
    version = VERSION
    python_tag = opt_text(TAG)
    platform_tag = opt_text(TAG)
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUSES))
    detail = ma.fields.String(allow_none=True, validate=validate.Length(max=100_000))
    metadata = ma.fields.Dict(keys=ma.fields.String(), load_default=dict)
    duration_ms = ma.fields.Integer(allow_none=True, validate=validate.Range(min=0, max=2**31 - 1))
    timestamp = UtcDateTime(allow_none=True)


class BuildsEventBatchSchema(ma.Schema):
    """``{"events": [...]}``; a single event object or a JSON list is accepted as well."""

    events = ma.fields.List(
        ma.fields.Nested(BuildsEventInSchema),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )

    @ma.pre_load
    def _one_or_many(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, list):
            return {"events": data}
        if isinstance(data, dict) and "events" not in data:
            return {"events": [data]}
        return data


class BuildsEventSchema(ma.Schema):
    """The seed's Event."""

    id = ma.fields.Integer(required=True)
    event_id = ma.fields.String(allow_none=True)
    run_id = ma.fields.String(allow_none=True)
    name = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
    python_tag = ma.fields.String(allow_none=True)
    platform_tag = ma.fields.String(allow_none=True)
    status = ma.fields.String(required=True)
    detail = ma.fields.String(allow_none=True)
    metadata = ma.fields.Dict(required=True)
    duration_ms = ma.fields.Integer(allow_none=True)
    timestamp = ma.fields.DateTime(required=True)
    matched_hint_ids = ma.fields.List(ma.fields.Integer(), required=True)


class BuildsIngestItemSchema(ma.Schema):
    """What happened to one posted event."""

    event_id = ma.fields.String(allow_none=True)
    status = ma.fields.String(
        required=True, validate=validate.OneOf(["accepted", "duplicate", "conflict"])
    )
    event = ma.fields.Nested(BuildsEventSchema, required=True)


class BuildsIngestResultSchema(ma.Schema):
    """Result of ``POST /events``: counts and one entry per posted event, in order."""

    accepted = ma.fields.Integer(required=True)
    duplicate = ma.fields.Integer(required=True)
    conflicts = ma.fields.Integer(required=True)
    items = ma.fields.List(ma.fields.Nested(BuildsIngestItemSchema), required=True)


BuildsEventPageSchema = page_of(BuildsEventSchema, "BuildsEventPageSchema")


class BuildsRecentQuerySchema(PageQuerySchema):
    """``?package=&status=&limit=&offset=``."""

    package = ma.fields.String(validate=validate.Length(min=1, max=200))
    status = ma.fields.String(validate=validate.OneOf(STATUSES))


class BuildsHistoryQuerySchema(BuildsRecentQuerySchema):
    """``?package=&status=&run_id=&from=&to=&limit=&offset=``."""

    run_id = ma.fields.String(validate=validate.Regexp(ID_TEXT))
    from_ = UtcDateTime(data_key="from")
    to = UtcDateTime()

    @ma.post_load
    def _rename(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "from_" in data:
            data["from"] = data.pop("from_")
        return data


class BuildsSummaryQuerySchema(ma.Schema):
    """``?failure_limit=`` (default 20) and ``window_hours`` of the counts (default 24)."""

    failure_limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=0, max=500))
    window_hours = ma.fields.Integer(load_default=24, validate=validate.Range(min=1, max=24 * 366))


class BuildsSummarySchema(ma.Schema):
    """Status counts over the window and the latest failures."""

    window_hours = ma.fields.Integer(required=True)
    since = ma.fields.DateTime(required=True)
    status_counts = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), required=True
    )
    total = ma.fields.Integer(required=True)
    failures = ma.fields.List(ma.fields.Nested(BuildsEventSchema), required=True)


class BuildsPackageSchema(ma.Schema):
    """One package: counts by status, versions seen, the latest event."""

    name = ma.fields.String(required=True)
    status_counts = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), required=True
    )
    total = ma.fields.Integer(required=True)
    versions = ma.fields.Integer(required=True)
    latest = ma.fields.Nested(BuildsEventSchema, required=True)


class BuildsFailuresQuerySchema(PageQuerySchema):
    """``?name=&limit=&offset=``."""

    name = ma.fields.String(validate=validate.Length(min=1, max=200))


class BuildsVariantSchema(ma.Schema):
    """One (version, python tag, platform tag) of a package."""

    name = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
    python_tag = ma.fields.String(allow_none=True)
    platform_tag = ma.fields.String(allow_none=True)
    attempts = ma.fields.Integer(required=True)
    failures = ma.fields.Integer(required=True)
    last_status = ma.fields.String(allow_none=True)
    last_timestamp = ma.fields.DateTime(required=True)


BuildsVariantPageSchema = page_of(BuildsVariantSchema, "BuildsVariantPageSchema")


class BuildsTopQuerySchema(ma.Schema):
    """``?limit=`` (default 10, at most 500)."""

    limit = ma.fields.Integer(load_default=10, validate=validate.Range(min=1, max=500))


class BuildsTopFailureSchema(ma.Schema):
    """A package and how often it failed."""

    name = ma.fields.String(required=True)
    failures = ma.fields.Integer(required=True)
    last_failure = ma.fields.DateTime(required=True)


class BuildsTopFailuresSchema(ma.Schema):
    """``{"items": [...]}``."""

    items = ma.fields.List(ma.fields.Nested(BuildsTopFailureSchema), required=True)


class BuildsTopSlowestSchema(ma.Schema):
    """``{"items": [...]}``: the slowest builds."""

    items = ma.fields.List(ma.fields.Nested(BuildsEventSchema), required=True)


# -- queue ---------------------------------------------------------------------------------------


class BuildsEnqueueSchema(ma.Schema):
    """The seed's enqueue body."""

    package = NAME
    version = VERSION
    python_tag = opt_text(TAG)
    platform_tag = opt_text(TAG)
    recipes = ma.fields.Nested(BuildsRecipesSchema, load_default=dict)


class BuildsQueueItemSchema(ma.Schema):
    """The seed's queue item (plus id, attempts and lease)."""

    id = ma.fields.String(required=True)
    package = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
    python_tag = ma.fields.String(allow_none=True)
    platform_tag = ma.fields.String(allow_none=True)
    recipes = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()), required=True
    )
    enqueued_at = ma.fields.DateTime(required=True)
    attempts = ma.fields.Integer(required=True)
    leased = ma.fields.Boolean(required=True)
    leased_until = ma.fields.DateTime(allow_none=True)


class BuildsEnqueuedSchema(ma.Schema):
    """Result of enqueue: the item and whether it was new."""

    created = ma.fields.Boolean(required=True)
    item = ma.fields.Nested(BuildsQueueItemSchema, required=True)


BuildsQueuePageSchema = page_of(BuildsQueueItemSchema, "BuildsQueuePageSchema")


class BuildsQueueStatsSchema(ma.Schema):
    """Length (waiting), in flight (leased), oldest waiting age, backend."""

    backend = ma.fields.String(required=True)
    length = ma.fields.Integer(required=True)
    in_flight = ma.fields.Integer(required=True)
    oldest_age_seconds = ma.fields.Float(allow_none=True)
    supports_clear = ma.fields.Boolean(required=True)


class BuildsQueueClearedSchema(ma.Schema):
    """Result of ``POST /queue/clear``."""

    cleared = ma.fields.Integer(required=True)
    backend = ma.fields.String(required=True)


# -- config, health --------------------------------------------------------------------------------


class BuildsHealthSchema(ma.Schema):
    """``{"status": "ok"}`` plus the queue backend's state."""

    status = ma.fields.String(required=True)
    queue = ma.fields.Dict(required=True)


class BuildsConfigSchema(ma.Schema):
    """The configuration, sanitised (no credentials, no secrets)."""

    strategy = ma.fields.String(required=True)
    target_python = ma.fields.String(required=True)
    target_platform = ma.fields.String(required=True)
    index = ma.fields.Dict(required=True)
    queue = ma.fields.Dict(required=True)
    worker = ma.fields.Dict(required=True)
    logs = ma.fields.Dict(required=True)
    database = ma.fields.Dict(required=True)
