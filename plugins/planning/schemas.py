"""Request and response schemas of the planning API (the seed's shapes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.api import PageQuerySchema, page_of
from app.domain.schemas import project_name_field
from app.operations.schemas import AcceptedSchema as AcceptedSchema
from app.operations.schemas import WaitQuerySchema as WaitQuerySchema

PROJECT_NAME = project_name_field(
    description="Junction project (it must exist: 404 otherwise); omit for the global "
    "configuration."
)
EXISTING_PROJECT = "Junction project; it must exist (404 otherwise)."


# Python's $ also matches before a trailing newline, which would then reach the URL paths these
# values are put in; (?!\n) refuses it and, unlike \Z, is valid in OpenAPI's ECMA patterns.
UUID_PATTERN = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?!\n)$"
)
# A release notes file name as ``release_notes`` serves it: a plain ``.md`` name, no ``..``.
NOTES_FILENAME_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._ -]{0,200}\.md(?!\n)$"


def plane_id_field(what: str, **kwargs: Any) -> ma.fields.String:
    """A Plane id (a UUID) that is put into Plane's URL paths.

    The pattern is documented rather than validated here: ``client.plane_id`` refuses anything
    else before Plane is called, with the seed's 400 and code ``PLANNING_INVALID_ID`` (a
    test keeps the two rules equal).
    """
    return ma.fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": f"{what}: a Plane UUID (400 PLANNING_INVALID_ID otherwise).",
            "pattern": UUID_PATTERN,
            "format": "uuid",
        },
        **kwargs,
    )


def _marqed_directory(value: str) -> None:
    """Field validator: an absolute path to an existing directory on the Junction host."""
    path = Path(value)
    if not path.is_absolute():
        raise ma.ValidationError("Give an absolute path.")
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError):  # a component too long, and the like
        is_dir = False
    if not is_dir:
        raise ma.ValidationError("not a directory")


class ProjectQuerySchema(ma.Schema):
    """``?project_name=X`` (optional)."""

    project_name = PROJECT_NAME


class ConfigSchema(ma.Schema):
    """The configuration as ``GET /api/planning/config`` shows it (secrets masked)."""

    planning_api_url = ma.fields.String(allow_none=True)
    planning_api_key_set = ma.fields.Boolean(required=True)
    planning_api_key_masked = ma.fields.String(allow_none=True)
    planning_workspace_slug = ma.fields.String(allow_none=True)
    planning_project_id = ma.fields.String(allow_none=True)
    planning_sync_enabled = ma.fields.Boolean(allow_none=True)
    planning_poll_interval = ma.fields.Integer(allow_none=True)
    planning_active_cycle_id = ma.fields.String(allow_none=True)
    planning_webhook_secret_set = ma.fields.Boolean(required=True)
    planning_rate_limit_per_minute = ma.fields.Integer(allow_none=True)
    project_name = ma.fields.String()


class ConfigUpdateSchema(ma.Schema):
    """Body of ``POST /api/planning/config``; every field optional, ``null`` clears."""

    project_name = PROJECT_NAME
    planning_api_url = ma.fields.String(allow_none=True, validate=validate.Length(max=2048))
    planning_api_key = ma.fields.String(allow_none=True, validate=validate.Length(min=1, max=512))
    planning_workspace_slug = ma.fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}(?!\n)$")
    )
    planning_project_id = ma.fields.String(
        allow_none=True,
        validate=validate.Regexp(UUID_PATTERN, error="Must be a Plane project UUID."),
    )
    planning_sync_enabled = ma.fields.Boolean(allow_none=True)
    planning_poll_interval = ma.fields.Integer(
        allow_none=True, validate=validate.Range(min=10, max=86400)
    )
    planning_active_cycle_id = ma.fields.String(
        allow_none=True, validate=validate.Regexp(UUID_PATTERN, error="Must be a Plane cycle UUID.")
    )
    planning_webhook_secret = ma.fields.String(
        allow_none=True,
        validate=validate.Length(min=8, max=1024),
        metadata={"description": "Several secrets, comma-separated, while rotating."},
    )
    planning_rate_limit_per_minute = ma.fields.Integer(
        allow_none=True, validate=validate.Range(min=1, max=100000)
    )


class ConnectionSchema(ma.Schema):
    """Result of ``POST /api/planning/test-connection``."""

    status = ma.fields.String(required=True, validate=validate.OneOf(["ok", "error"]))
    workspace = ma.fields.String()
    project_name = ma.fields.String(allow_none=True)
    planning_version = ma.fields.String(allow_none=True)
    message = ma.fields.String()
    details = ma.fields.String()


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


class ReportQuerySchema(ma.Schema):
    """``?project_name=X&all_features=true``."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)
    all_features = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "true: every feature; default: MQ Planning-linked only."},
    )


class FeatureSummarySchema(ma.Schema):
    """Test aggregates of one feature."""

    feature_id = ma.fields.Integer(required=True)
    feature_name = ma.fields.String(required=True)
    total_runs = ma.fields.Integer(required=True)
    pass_count = ma.fields.Integer(required=True)
    fail_count = ma.fields.Integer(required=True)
    last_tested_at = ma.fields.DateTime(allow_none=True, required=True)
    last_result = ma.fields.Boolean(allow_none=True, required=True)


class TestReportSchema(ma.Schema):
    """The seed's aggregated test report."""

    __test__ = False

    total_features = ma.fields.Integer(required=True)
    features_tested = ma.fields.Integer(required=True)
    features_never_tested = ma.fields.Integer(required=True)
    total_test_runs = ma.fields.Integer(required=True)
    overall_pass_rate = ma.fields.Float(required=True)
    feature_summaries = ma.fields.List(ma.fields.Nested(FeatureSummarySchema), required=True)
    generated_at = ma.fields.DateTime(required=True)


class HistoryQuerySchema(ma.Schema):
    """``?project_name=X&feature_id=N&limit=50``."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)
    feature_id = ma.fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


class HistoryRunSchema(ma.Schema):
    """One test run on the timeline."""

    id = ma.fields.Integer(required=True)
    feature_id = ma.fields.Integer(required=True)
    feature_name = ma.fields.String(required=True)
    passed = ma.fields.Boolean(required=True)
    agent_type = ma.fields.String(required=True)
    started_at = ma.fields.DateTime(required=True)
    completed_at = ma.fields.DateTime(allow_none=True, required=True)
    return_code = ma.fields.Integer(allow_none=True, required=True)


class TestHistorySchema(ma.Schema):
    """``{"runs": [...], "total_count": N}``."""

    __test__ = False

    runs = ma.fields.List(ma.fields.Nested(HistoryRunSchema), required=True)
    total_count = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)


class ReleaseNotesQuerySchema(PageQuerySchema):
    """``?project_name=X`` plus the page parameters."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)


class ReleaseNotesItemSchema(ma.Schema):
    """One release notes file."""

    filename = ma.fields.String(required=True)
    cycle_name = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    size_bytes = ma.fields.Integer(required=True)


ReleaseNotesPageSchema = page_of(ReleaseNotesItemSchema)


class ReleaseNotesContentQuerySchema(ma.Schema):
    """``?project_name=X&filename=Y``."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)
    filename = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "A file of `GET /api/planning/release-notes`: a plain `.md` name "
            "inside `releases/` (400 INVALID_FILENAME otherwise, 404 when absent).",
            # Documented here, checked (with its own problem code) by release_notes.read_notes.
            "pattern": NOTES_FILENAME_PATTERN,
        },
    )


class ReleaseNotesContentSchema(ma.Schema):
    """One release notes file's content."""

    filename = ma.fields.String(required=True)
    content = ma.fields.String(required=True)


class SelfHostSchema(ma.Schema):
    """Result of ``POST /api/planning/self-host-setup``."""

    project_name = ma.fields.String(required=True)
    project_path = ma.fields.String(required=True)
    already_registered = ma.fields.Boolean(required=True)


class MarqedImportRequestSchema(ma.Schema):
    """Body of ``POST /api/planning/marqed-import``."""

    marqed_dir = ma.fields.String(
        required=True,
        validate=[validate.Length(min=1, max=1024), _marqed_directory],
        metadata={
            "description": "Absolute path of the MarQed tree: an existing directory on the "
            "Junction host holding `epics/` or `features/` (422 MARQED_INVALID listing each "
            "problem of a malformed tree).",
            "pattern": r"^/[^\u0000]*$",
        },
    )
    cycle_id = plane_id_field("Add every created work item to this cycle")
    project_name = project_name_field(
        description="Junction project whose MQ Planning configuration to use (it must exist: "
        "404 otherwise); default: the global configuration."
    )


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


class MarqedEntitySchema(ma.Schema):
    """What happened to one MarQed entity."""

    identifier = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    entity_type = ma.fields.String(
        required=True, validate=validate.OneOf(["epic", "feature", "story", "task"])
    )
    planning_type = ma.fields.String(
        required=True, validate=validate.OneOf(["module", "work_item"])
    )
    planning_id = ma.fields.String(required=True)
    action = ma.fields.String(
        required=True, validate=validate.OneOf(["created", "existing", "error"])
    )
    error = ma.fields.String(required=True)


class MarqedSummarySchema(ma.Schema):
    """The seed's MarQed import summary (plus ``existing`` and the cycle outcome)."""

    total_entities = ma.fields.Integer(required=True)
    created = ma.fields.Integer(required=True)
    existing = ma.fields.Integer(required=True)
    errors = ma.fields.Integer(required=True)
    modules_created = ma.fields.Integer(required=True)
    work_items_created = ma.fields.Integer(required=True)
    cycle_id = ma.fields.String(allow_none=True)
    cycle_linked = ma.fields.Integer(required=True)
    cycle_error = ma.fields.String(allow_none=True)
    entities = ma.fields.List(ma.fields.Nested(MarqedEntitySchema), required=True)
