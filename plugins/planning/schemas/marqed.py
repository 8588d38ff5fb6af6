"""Schemas of the marqed import (a directory of marqed files into Plane)."""

from __future__ import annotations

from pathlib import Path

import marshmallow as ma
from marshmallow import validate

from app.domain.schemas import project_name_field
from plugins.planning.schemas.common import plane_id_field


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
