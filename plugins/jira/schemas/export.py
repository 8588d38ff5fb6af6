"""Schemas of the export: start, status, retry and results."""

from __future__ import annotations

import marshmallow as ma

from plugins.jira.schemas.common import F


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
