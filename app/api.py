"""The flask-smorest ``Api``, the shared pagination convention and request-shape guards."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
import sqlalchemy as sa
from flask import Flask, Response, current_app, request, send_from_directory
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from app.db import db
from app.errors import handle_http_exception, problem

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class JunctionApi(Api):
    """flask-smorest ``Api`` whose errors are problem documents."""

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        """Render every HTTP error as ``application/problem+json``."""
        return handle_http_exception(error)


def api_config(app: Flask) -> None:
    """flask-smorest settings: OpenAPI 3.1 at ``/api/openapi.json``, Swagger UI and ReDoc."""
    app.config.setdefault("API_TITLE", "Junction")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    # Swagger UI is served from the swagger-ui-bundle package so /api/docs works offline.
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/_swagger-ui/")
    app.config.setdefault("OPENAPI_REDOC_PATH", "redoc")
    app.config.setdefault(
        "OPENAPI_REDOC_URL", "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
    )
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Junction connects an AI development engine to the tools around it. "
                    "Errors are RFC 9457 problem documents (application/problem+json)."
                )
            },
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}, {}],
        },
    )


def create_api(app: Flask) -> JunctionApi:
    """Create the Api on ``app`` and serve the bundled Swagger UI assets."""
    api_config(app)
    api = JunctionApi(app)
    api.spec.components.schema("Problem", schema=ProblemSchema)

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - dependency of the package
        swagger_ui_path = None
    if swagger_ui_path:

        @app.get("/api/_swagger-ui/<path:filename>")
        def swagger_ui_asset(filename: str) -> Response:
            return send_from_directory(swagger_ui_path, filename)

    return api


# -- request shape -----------------------------------------------------------------------------


def raw_body(view: F) -> F:
    """Mark a view that reads the raw body itself (webhooks), so no JSON content type is forced."""
    view._junction_raw_body = True  # type: ignore[attr-defined]
    return view


def require_json_body() -> Response | None:
    """415 for an ``/api`` request that sends a body which is not JSON.

    Without this a form-encoded POST would be parsed as an empty JSON object and answered with a
    confusing "missing field" error instead of naming the real mistake.
    """
    if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
        return None
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if not has_body or request.is_json:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and _is_raw(view):
        return None
    return problem(
        415,
        f"Send the body as application/json (got {request.mimetype or 'no content type'}).",
    )


def _is_raw(view: Callable[..., Any]) -> bool:
    while view is not None:
        if getattr(view, "_junction_raw_body", False):
            return True
        view = getattr(view, "__wrapped__", None)  # type: ignore[assignment]
    return False


# -- pagination --------------------------------------------------------------------------------


class PageQuerySchema(ma.Schema):
    """``limit`` (default 50, 1..500) and ``offset`` (default 0) of every list endpoint."""

    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=ma.validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Page size, 1 to {MAX_LIMIT}."},
    )
    offset = ma.fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0),
        metadata={"description": "Items to skip."},
    )


class PageSchema(ma.Schema):
    """Envelope fields shared by every page: ``total``, ``limit``, ``offset``."""

    total = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)


@functools.cache
def page_of(item_schema: type[ma.Schema], name: str | None = None) -> type[ma.Schema]:
    """The page envelope ``{items, total, limit, offset}`` for ``item_schema``."""
    base = item_schema.__name__.removesuffix("Schema")
    return type(
        name or f"{base}PageSchema",
        (PageSchema,),
        {"items": ma.fields.List(ma.fields.Nested(item_schema), required=True)},
    )


def paginate(query: sa.Select[Any], limit: int, offset: int) -> dict[str, Any]:
    """Run ``query`` for one page and count the whole; the envelope every list returns."""
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    items = db.session.scalars(query.limit(limit).offset(offset)).all()
    return {"items": items, "total": total or 0, "limit": limit, "offset": offset}


# -- problem schema for the OpenAPI document ----------------------------------------------------


class FieldErrorSchema(ma.Schema):
    """One invalid field of a validation problem."""

    field = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    code = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem document with Junction's extension members."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    code = ma.fields.String(required=True)
    correlation_id = ma.fields.String(allow_none=True)
    retryable = ma.fields.Boolean(required=True)
    errors = ma.fields.List(ma.fields.Nested(FieldErrorSchema))
