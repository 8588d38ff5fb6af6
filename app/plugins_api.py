"""``GET /api/plugins``: every discovered plugin with its version, hooks, status and error."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint

blp = Blueprint("plugins", __name__, url_prefix="/api/plugins", description="Installed plugins.")


class PluginSchema(ma.Schema):
    """One plugin as the registry sees it."""

    name = ma.fields.String(required=True)
    module = ma.fields.String(required=True)
    version = ma.fields.String(allow_none=True)
    distribution = ma.fields.String(allow_none=True)
    status = ma.fields.String(
        required=True, validate=ma.validate.OneOf(["loaded", "failed", "disabled"])
    )
    error = ma.fields.String(allow_none=True)
    hooks = ma.fields.List(ma.fields.String(), required=True)


class PluginListSchema(ma.Schema):
    """All plugins; ``total`` for symmetry with the paginated lists."""

    items = ma.fields.List(ma.fields.Nested(PluginSchema), required=True)
    total = ma.fields.Integer(required=True)


@blp.get("")
@blp.response(200, PluginListSchema)
def list_plugins() -> dict[str, Any]:
    """List every discovered plugin, loaded, failed or disabled."""
    items = current_app.extensions["junction"].registry.as_list()
    return {"items": items, "total": len(items)}
