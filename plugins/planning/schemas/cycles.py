"""Schemas of cycles, imports into Plane, sync status, sprint completion and webhooks."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.domain.schemas import project_name_field
from plugins.planning.schemas.common import EXISTING_PROJECT, plane_id_field


class CycleSchema(ma.Schema):
    """A cycle with its computed status."""

    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    start_date = ma.fields.String(allow_none=True, required=True)
    end_date = ma.fields.String(allow_none=True, required=True)
    status = ma.fields.String(
        required=True, validate=validate.OneOf(["current", "upcoming", "completed", "draft"])
    )
    total_issues = ma.fields.Integer(required=True)
    completed_issues = ma.fields.Integer(required=True)


class CycleListSchema(ma.Schema):
    """``{"cycles": [...]}``."""

    cycles = ma.fields.List(ma.fields.Nested(CycleSchema), required=True)


class ImportRequestSchema(ma.Schema):
    """Body of ``POST /api/planning/import-cycle``."""

    cycle_id = plane_id_field("The cycle to import", required=True)
    project_name = project_name_field(description=EXISTING_PROJECT, required=True)


class ImportDetailSchema(ma.Schema):
    """What happened to one work item."""

    planning_id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    action = ma.fields.String(
        required=True, validate=validate.OneOf(["created", "updated", "skipped"])
    )
    reason = ma.fields.String()
    feature_id = ma.fields.Integer()


class ImportResultSchema(ma.Schema):
    """The seed's import summary."""

    imported = ma.fields.Integer(required=True)
    skipped = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    details = ma.fields.List(ma.fields.Nested(ImportDetailSchema), required=True)


class SprintStatsSchema(ma.Schema):
    """Feature and test-run counts of the sprint."""

    total = ma.fields.Integer(required=True)
    passing = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)
    untested = ma.fields.Integer(required=True)
    total_test_runs = ma.fields.Integer(required=True)
    overall_pass_rate = ma.fields.Float(required=True)


class SyncStatusSchema(ma.Schema):
    """The seed's sync status."""

    enabled = ma.fields.Boolean(required=True)
    running = ma.fields.Boolean(required=True)
    last_sync_at = ma.fields.DateTime(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    items_synced = ma.fields.Integer(required=True)
    active_cycle_id = ma.fields.String(allow_none=True)
    active_cycle_name = ma.fields.String(allow_none=True)
    sprint_complete = ma.fields.Boolean(required=True)
    sprint_stats = ma.fields.Nested(SprintStatsSchema, required=True)
    last_webhook_at = ma.fields.DateTime(allow_none=True)
    webhook_count = ma.fields.Integer(required=True)
    backoff_until = ma.fields.DateTime(allow_none=True)
    poll_interval = ma.fields.Integer(allow_none=True)
    project_name = ma.fields.String()


class WebhookResultSchema(ma.Schema):
    """``{"status": "ok", "action": ...}``."""

    status = ma.fields.String(required=True)
    action = ma.fields.String(
        required=True,
        validate=validate.OneOf(["processed", "deduped", "no_active_cycle", "ignored", "error"]),
    )


class CompleteSprintRequestSchema(ma.Schema):
    """Body of ``POST /api/planning/complete-sprint``."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)
    cycle_id = plane_id_field("The cycle; default: the project's planning_active_cycle_id")


class CompleteSprintResultSchema(ma.Schema):
    """The seed's sprint completion result (plus ``warnings`` and the cycle)."""

    success = ma.fields.Boolean(required=True)
    features_completed = ma.fields.Integer(required=True)
    features_failed = ma.fields.Integer(required=True)
    git_tag = ma.fields.String(allow_none=True, required=True)
    change_log = ma.fields.String(required=True)
    release_notes_path = ma.fields.String(allow_none=True, required=True)
    error = ma.fields.String(allow_none=True, required=True)
    warnings = ma.fields.List(ma.fields.String(), required=True)
    cycle_id = ma.fields.String()
    cycle_name = ma.fields.String(allow_none=True)


class WebhookPayloadSchema(ma.Schema):
    """A Plane webhook delivery (v1), as documented for ``POST /api/planning/webhooks``.

    Documentation only: the view verifies the signature over the raw bytes before it parses
    them (``webhooks.receive``), which also accepts Plane's v2 shape (``version: "v2"`` with
    ``event: "workitem.updated"``) and unknown entities, which it ignores.
    """

    class Meta:
        unknown = ma.INCLUDE

    event = ma.fields.String(
        required=True,
        validate=validate.OneOf(["issue", "cycle", "module", "project", "issue_comment"]),
        metadata={"description": "The entity that changed."},
    )
    action = ma.fields.String(
        required=True,
        validate=validate.OneOf(["created", "updated", "deleted"]),
    )
    webhook_id = ma.fields.String(metadata={"format": "uuid"})
    workspace_id = ma.fields.String(metadata={"format": "uuid"})
    data = ma.fields.Dict(metadata={"description": "The entity (its `id`, `cycle_id`...)."})
