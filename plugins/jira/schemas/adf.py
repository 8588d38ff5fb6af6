"""Schemas of the ADF preview and the ADF test against Jira."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from plugins.jira.schemas.common import F


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
