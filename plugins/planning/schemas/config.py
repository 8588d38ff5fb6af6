"""Schemas of the planning configuration, the Plane connection check and self-hosting."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from plugins.planning.schemas.common import PROJECT_NAME, UUID_PATTERN


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


class SelfHostSchema(ma.Schema):
    """Result of ``POST /api/planning/self-host-setup``."""

    project_name = ma.fields.String(required=True)
    project_path = ma.fields.String(required=True)
    already_registered = ma.fields.Boolean(required=True)
