"""Schemas of the Jira settings and the connection check."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from plugins.jira.schemas.common import F


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
