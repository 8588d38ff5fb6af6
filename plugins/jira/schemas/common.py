"""What the Jira API's schemas share."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

F = ma.fields

NAME = validate.Length(min=1, max=255)


class JiraProjectQuerySchema(ma.Schema):
    """``?project_name=`` (optional): whose settings to use."""

    project_name = F.String(validate=validate.Length(min=1, max=64))
