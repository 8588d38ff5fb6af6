"""Schemas of export sessions, their tickets and ticket attachments."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.api import PageQuerySchema, PageSchema
from plugins.jira.schemas.common import NAME, F


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
