"""Request and response schemas of the Jira API (the seed's shapes)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.api import PageQuerySchema, PageSchema

F = ma.fields
NAME = validate.Length(min=1, max=255)


class JiraProjectQuerySchema(ma.Schema):
    """``?project_name=`` (optional): whose settings to use."""

    project_name = F.String(validate=validate.Length(min=1, max=64))


class JiraConfigSchema(ma.Schema):
    """The connection settings (the token masked)."""

    project_name = F.String(allow_none=True)
    site_url = F.String()
    email = F.String()
    api_token_set = F.Boolean()
    api_token_masked = F.String(allow_none=True)
    default_project_key = F.String()
    pacing = F.String()
    pacing_seconds = F.Float()
    attachment_max_bytes = F.Integer()


class JiraConfigUpdateSchema(ma.Schema):
    """Settings to change; ``project_name`` stores them for that project only."""

    project_name = F.String(validate=validate.Length(min=1, max=64))
    site_url = F.String(allow_none=True, validate=validate.Length(max=1024))
    email = F.String(allow_none=True, validate=validate.Length(max=255))
    api_token = F.String(allow_none=True, validate=validate.Length(max=2048), load_only=True)
    default_project_key = F.String(allow_none=True, validate=validate.Length(max=64))
    pacing = F.String(allow_none=True, validate=validate.OneOf(["fixed", "adaptive"]))
    pacing_seconds = F.Float(allow_none=True, validate=validate.Range(min=0, max=60))
    attachment_max_bytes = F.Integer(allow_none=True, validate=validate.Range(min=1))


class JiraConnectionSchema(ma.Schema):
    """The answer of ``test-connection``: ``ok``, and which setting is wrong when not."""

    ok = F.Boolean(required=True)
    site_url = F.String()
    email = F.String()
    problem_field = F.String(allow_none=True)
    message = F.String()
    account_id = F.String()
    display_name = F.String()


class JiraTicketCreateSchema(ma.Schema):
    """A new ticket."""

    title = F.String(required=True, validate=NAME)
    description_html = F.String(validate=validate.Length(max=1_000_000))
    issue_type = F.String(validate=validate.Length(min=1, max=64))
    assignee = F.String(allow_none=True, validate=validate.Length(max=255))
    sprint = F.String(allow_none=True, validate=validate.Length(max=255))
    priority = F.String(allow_none=True, validate=validate.Length(max=64))
    labels = F.List(
        F.String(validate=[validate.Length(min=1, max=255), validate.Regexp(r"^\S+$")]),
        validate=validate.Length(max=50),
    )
    dependencies = F.List(F.UUID(), validate=validate.Length(max=500))
    order = F.Integer(validate=validate.Range(min=1, max=1_000_000))


class JiraTicketUpdateSchema(JiraTicketCreateSchema):
    """Changes to a ticket (every field optional)."""

    title = F.String(validate=NAME)


class JiraUploadSchema(ma.Schema):
    """``multipart/form-data`` with the file in the part ``file``."""

    file = F.Raw(metadata={"type": "string", "format": "binary"})


class JiraAttachmentSchema(ma.Schema):
    """A stored attachment."""

    filename = F.String()
    size = F.Integer()
    content_type = F.String()
    uploaded = F.Boolean()


class JiraTicketSchema(ma.Schema):
    """A ticket."""

    id = F.String()
    session_id = F.String()
    order = F.Integer()
    title = F.String()
    description_html = F.String()
    issue_type = F.String()
    assignee = F.String(allow_none=True)
    sprint = F.String(allow_none=True)
    priority = F.String(allow_none=True)
    labels = F.List(F.String())
    dependencies = F.List(F.String())
    feature_id = F.Integer(allow_none=True)
    attachment = F.Nested(JiraAttachmentSchema, allow_none=True)
    jira_export_status = F.String()
    jira_ticket_key = F.String(allow_none=True)
    jira_ticket_url = F.String(allow_none=True)
    exported_at = F.DateTime(allow_none=True)


class JiraTicketListSchema(ma.Schema):
    """The tickets of a session, by ``order``."""

    items = F.List(F.Nested(JiraTicketSchema))


class JiraSessionCreateSchema(ma.Schema):
    """A new session, empty or built from a project's features."""

    name = F.String(validate=NAME)
    project_name = F.String(validate=validate.Length(min=1, max=64))
    jira_project_key = F.String(validate=validate.Length(min=1, max=64))
    feature_ids = F.List(F.Integer(), metadata={"description": "Features to turn into tickets."})
    from_features = F.Boolean(
        metadata={
            "description": "With project_name and no feature_ids: every feature not exported yet."
        }
    )

    @ma.validates_schema
    def _features_need_project(self, data: dict[str, Any], **kwargs: object) -> None:
        if ("feature_ids" in data or data.get("from_features")) and not data.get("project_name"):
            raise ma.ValidationError(
                "Give project_name to build tickets from features.", "project_name"
            )


class JiraSessionUpdateSchema(ma.Schema):
    """Changes to a session."""

    name = F.String(validate=NAME)
    jira_project_key = F.String(allow_none=True, validate=validate.Length(min=1, max=64))


class JiraSessionSchema(ma.Schema):
    """An export session."""

    id = F.String()
    name = F.String()
    project_name = F.String(allow_none=True)
    jira_project_key = F.String(allow_none=True)
    status = F.String()
    current_stage = F.String()
    export_task_id = F.String(allow_none=True)
    export_started_at = F.DateTime(allow_none=True)
    export_failed_at = F.DateTime(allow_none=True)
    completed_at = F.DateTime(allow_none=True)
    failed_at_ticket_order = F.Integer(allow_none=True)
    export_retry_count = F.Integer()
    ticket_count = F.Integer()
    created_at = F.DateTime()
    updated_at = F.DateTime()
    tickets = F.List(F.Nested(JiraTicketSchema))


class JiraSessionPageSchema(PageSchema):
    """A page of sessions."""

    items = F.List(F.Nested(JiraSessionSchema))


class JiraSessionQuerySchema(PageQuerySchema):
    """Paging of sessions."""


class JiraRequirementsSchema(ma.Schema):
    """The seed's ``ProjectRequirements``."""

    requires_sprint_assignment = F.Boolean(load_default=False)
    requires_assignee = F.Boolean(load_default=False)
    requires_priority_levels = F.Boolean(load_default=False)


class JiraValidateProjectSchema(ma.Schema):
    """The seed's ``ProjectValidationRequest``."""

    project_key = F.String(
        required=True,
        validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9_]+$")],
    )
    user_requirements = F.Nested(JiraRequirementsSchema, load_default=dict)
    project_name = F.String(validate=validate.Length(min=1, max=64))


class JiraSprintOptionSchema(ma.Schema):
    """``SprintOption``."""

    id = F.String()
    name = F.String()
    state = F.String()


class JiraTeamMemberSchema(ma.Schema):
    """``TeamMemberOption``."""

    account_id = F.String()
    display_name = F.String(allow_none=True)
    email = F.String(allow_none=True)


class JiraPriorityOptionSchema(ma.Schema):
    """``PriorityOption``."""

    id = F.String()
    name = F.String()
    is_default = F.Boolean()


class JiraWarningSchema(ma.Schema):
    """``ValidationWarning``."""

    type = F.String()
    message = F.String()
    severity = F.String()


class JiraIssueTypeSchema(ma.Schema):
    """An issue type of the project."""

    id = F.String()
    name = F.String()


class JiraProjectValidationSchema(ma.Schema):
    """The seed's ``ProjectValidationResponse``."""

    project_key = F.String()
    project_name = F.String()
    validation_status = F.String()
    can_create_tasks = F.Boolean()
    can_view_project = F.Boolean()
    available_sprints = F.List(F.Nested(JiraSprintOptionSchema))
    team_members = F.List(F.Nested(JiraTeamMemberSchema))
    priority_levels = F.List(F.Nested(JiraPriorityOptionSchema))
    issue_types = F.List(F.Nested(JiraIssueTypeSchema))
    validation_warnings = F.List(F.Nested(JiraWarningSchema))
    blocking_issues = F.List(F.String())


class JiraAdfPreviewRequestSchema(ma.Schema):
    """``{"html": ...}``."""

    html = F.String(required=True, validate=validate.Length(max=1_000_000))


class JiraConversionWarningSchema(ma.Schema):
    """What the converter dropped or changed."""

    code = F.String()
    message = F.String()
    count = F.Integer()


class JiraAdfPreviewSchema(ma.Schema):
    """``{"adf", "warnings", "adf_size_bytes", "character_reduction"}``."""

    adf = F.Dict()
    warnings = F.List(F.Nested(JiraConversionWarningSchema))
    adf_size_bytes = F.Integer()
    character_reduction = F.Float()


class JiraAdfTestRequestSchema(ma.Schema):
    """The seed's ``AdfTestRequest``."""

    ticket_ids = F.List(F.UUID(), load_default=list, validate=validate.Length(max=1000))
    include_attachments = F.Boolean(load_default=True)


class JiraAdfTestResultSchema(ma.Schema):
    """The seed's ``AdfTestResult``."""

    ticket_id = F.String()
    ticket_title = F.String()
    status = F.String()
    adf_size_bytes = F.Integer(allow_none=True)
    character_reduction = F.Float(allow_none=True)
    error_message = F.String(allow_none=True)
    suggested_fix = F.String(allow_none=True)
    warnings = F.List(F.Nested(JiraConversionWarningSchema))
    attachment_upload_tested = F.Boolean()
    attachment_upload_status = F.String(allow_none=True)


class JiraAdfTestSchema(ma.Schema):
    """The seed's ``AdfTestResponse``."""

    session_id = F.String()
    tickets_tested = F.Integer()
    all_passed = F.Boolean()
    passed = F.Integer()
    failed = F.Integer()
    results = F.List(F.Nested(JiraAdfTestResultSchema))


class JiraExportStartSchema(ma.Schema):
    """``ExportStartResponse`` or ``ExportAlreadyRunningResponse`` (both 202)."""

    task_id = F.String()
    session_id = F.String()
    status = F.String()
    total_tickets = F.Integer()
    estimated_duration_minutes = F.Integer()
    jira_project_key = F.String()
    started_at = F.DateTime(allow_none=True)
    progress_percentage = F.Float()
    current_ticket_title = F.String(allow_none=True)


class JiraExportStatusSchema(ma.Schema):
    """``ExportStatusResponse`` | ``ExportCompletedResponse`` | ``ExportFailedResponse``."""

    session_id = F.String()
    task_id = F.String(allow_none=True)
    status = F.String()
    progress_percentage = F.Float()
    tickets_completed = F.Integer()
    total_tickets = F.Integer()
    current_ticket_title = F.String(allow_none=True)
    estimated_time_remaining_minutes = F.Integer(allow_none=True)
    jira_tickets_created = F.Integer()
    dependencies_created = F.Integer()
    manual_fixes_needed = F.Integer()
    total_processing_time_minutes = F.Float()
    completed_at = F.DateTime(allow_none=True)
    failed_at_ticket_order = F.Integer(allow_none=True)
    error_category = F.String(allow_none=True)
    user_message = F.String(allow_none=True)
    recovery_actions = F.List(F.String())
    retry_available = F.Boolean()
    retry_attempts_used = F.Integer()


class JiraExportRetrySchema(ma.Schema):
    """``ExportRetryResponse``."""

    task_id = F.String()
    session_id = F.String()
    status = F.String()
    retry_attempt = F.Integer()
    remaining_retries = F.Integer()
    resuming_from_ticket_order = F.Integer(allow_none=True)
    preserved_successful_tickets = F.Integer()


class JiraTicketReferenceSchema(ma.Schema):
    """``JiraTicketReference``."""

    ticket_id = F.String()
    jira_key = F.String()
    jira_url = F.String()
    title = F.String()


class JiraManualFixSchema(ma.Schema):
    """``ManualFixGuidance``."""

    jira_key = F.String(allow_none=True)
    title = F.String(allow_none=True)
    issue_type = F.String()
    recommended_action = F.String()
    jira_url = F.String(allow_none=True)


class JiraOrphanSchema(ma.Schema):
    """An issue in Jira that could not be matched to a ticket: clean it up by hand."""

    jira_key = F.String()
    reason = F.String()
    ticket_id = F.String()
    title = F.String()


class JiraExportResultsSchema(ma.Schema):
    """``ExportResultsResponse`` (plus ``status`` and ``orphans``)."""

    session_id = F.String()
    status = F.String()
    total_tickets_created = F.Integer()
    jira_tickets = F.List(F.Nested(JiraTicketReferenceSchema))
    dependencies_created = F.Integer()
    manual_fixes = F.List(F.Nested(JiraManualFixSchema))
    orphans = F.List(F.Nested(JiraOrphanSchema))
    total_processing_time_minutes = F.Float()
