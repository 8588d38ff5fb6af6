"""Fields and patterns the planning API's schemas share."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.domain.schemas import project_name_field

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

    The pattern is documented rather than validated here: ``plane_errors.plane_id`` refuses anything
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


class ProjectQuerySchema(ma.Schema):
    """``?project_name=X`` (optional)."""

    project_name = PROJECT_NAME
