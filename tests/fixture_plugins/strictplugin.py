"""A test plugin with two blueprints: one whose contract answers validation failures with 400
(``app.blueprint.Blueprint(..., validation_status=400)``) and one plain flask-smorest blueprint
(Junction's default, 422). Each has the same views."""

from __future__ import annotations

from typing import Any

import flask_smorest
import marshmallow as ma

import app.api  # noqa: F401  (binds Junction's parser to plain blueprints, as plugins' routes do)
from app.blueprint import Blueprint
from app.errors import ValidationFailed, field_error
from app.hookspecs import hookimpl


class ThingSchema(ma.Schema):
    """Body of ``POST .../things``."""

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10))
    size = ma.fields.Integer(validate=ma.validate.Range(min=1, max=5))


class QuerySchema(ma.Schema):
    """``?q=`` (1-10 characters)."""

    q = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10))


def _views(blp: flask_smorest.Blueprint) -> flask_smorest.Blueprint:
    @blp.post("/things")
    @blp.arguments(ThingSchema)
    @blp.response(201, ThingSchema)
    def create_thing(body: dict[str, Any]) -> dict[str, Any]:
        """Echo the thing; ``name: "service"`` fails validation in the service, ``name:
        "domain"`` fails a domain check with a code of its own."""
        if body["name"] == "service":
            raise ValidationFailed(
                "name may not be 'service'.", errors=[field_error("name", "Reserved.")]
            )
        if body["name"] == "domain":
            raise ValidationFailed("The thing is unprocessable.", code="THING_UNPROCESSABLE")
        return body

    @blp.get("/search")
    @blp.arguments(QuerySchema, location="query")
    @blp.response(200, QuerySchema)
    def search(query: dict[str, Any]) -> dict[str, Any]:
        """Echo the query."""
        return query

    @blp.get("/ping")
    @blp.response(200, QuerySchema)
    def ping() -> dict[str, Any]:
        """No parameters at all."""
        return {"q": "pong"}

    return blp


strict = _views(
    Blueprint("strictplugin", __name__, url_prefix="/api/strict", validation_status=400)
)
plain = _views(flask_smorest.Blueprint("strictplugin_plain", __name__, url_prefix="/api/plain"))


@hookimpl
def junction_blueprints() -> list[flask_smorest.Blueprint]:
    """One blueprint of each validation status."""
    return [strict, plain]
