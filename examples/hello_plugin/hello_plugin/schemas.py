"""Request and response bodies. Class names carry the plugin name: OpenAPI component names are
shared by every plugin, so ``GreetingSchema`` from two plugins would collide."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.api import PageQuerySchema, page_of


class HelloGreetingSchema(ma.Schema):
    """A greeting as the API returns it."""

    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    delivered = ma.fields.Boolean(required=True)
    delivered_at = ma.fields.DateTime(allow_none=True, required=True)
    created_at = ma.fields.DateTime(required=True)


class HelloGreetingCreateSchema(ma.Schema):
    """Body of ``POST /api/hello/greetings``."""

    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    message = ma.fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Default: the `hello.greeting` setting."},
    )


class HelloGreetingQuerySchema(PageQuerySchema):
    """Filters of the greeting list, on top of ``limit`` and ``offset``."""

    delivered = ma.fields.Boolean(metadata={"description": "Only (un)delivered greetings."})


HelloGreetingPageSchema = page_of(HelloGreetingSchema)
