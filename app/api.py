"""The flask-smorest ``Api``: OpenAPI document, bounded ``int`` URLs, problem documents.

The shared pieces every blueprint uses live beside it and are re-exported here, so
``from app.api import ...`` keeps working: :mod:`app.pagination` (``PageQuerySchema``,
``page_of``, ``paginate``), :mod:`app.fields` (``UtcDateTime``, ``DbInteger``) and
:mod:`app.request_shape` (``raw_body``, ``require_json_body``).
"""

from __future__ import annotations

import http
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask, Response
from flask_smorest import Api
from flask_smorest.arguments import ArgumentsMixin
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from app import apidocs
from app.blueprint import ValidationStatusPlugin
from app.bodies import JunctionParser
from app.errors import PROBLEM_MIME, handle_http_exception
from app.fields import DB_INT_MAX, MAX_YEAR, MIN_YEAR, DbInteger, UtcDateTime
from app.jsonparse import parse_json as parse_json  # re-exported: the one JSON parser
from app.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PageQuerySchema,
    PageSchema,
    page_of,
    paginate,
)
from app.plugins import reject_failed_plugin_requests
from app.request_shape import BODY_METHODS, raw_body, require_json_body

__all__ = [
    "BODY_METHODS",
    "DB_INT_MAX",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_YEAR",
    "MIN_YEAR",
    "DbIntConverter",
    "DbInteger",
    "FieldErrorSchema",
    "JunctionApi",
    "PageQuerySchema",
    "PageSchema",
    "ProblemContentPlugin",
    "ProblemSchema",
    "UtcDateTime",
    "api_config",
    "create_api",
    "digits_up_to",
    "page_of",
    "paginate",
    "parse_json",
    "raw_body",
    "require_json_body",
]

# Every flask-smorest blueprint (plugins' included) binds this parser when its views are
# decorated, and blueprints import this module first: set it before any of them exists.
ArgumentsMixin.ARGUMENTS_PARSER = JunctionParser()


class DbIntConverter(IntegerConverter):
    """The ``int`` URL converter, bounded to ``DB_INT_MAX`` unless a route gives ``max``.

    An id like ``99999999999999999999`` then gets a 404 from routing instead of overflowing the
    database driver, and the bound appears as ``maximum`` in the OpenAPI document.
    """

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = DB_INT_MAX,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
        # ASCII digits only: ``\d`` also matches fullwidth and other Unicode digits, which
        # ``int()`` accepts, so ``/features/`` + U+FF11 (fullwidth 1) would resolve to feature 1.
        self.regex = r"-?[0-9]+" if signed else r"[0-9]+"
        if max is not None and not signed and not fixed_digits and not min:
            # Refuse larger numbers in the regex itself: a converter that raises instead makes
            # werkzeug answer 405 for other methods of the same path (it has already seen them
            # match), where 404 is the truth.
            self.regex = digits_up_to(max)


def digits_up_to(limit: int) -> str:
    """A regex of the decimal numbers 0..``limit`` (no sign, no leading zeros beyond that)."""
    text = str(limit)
    options = [rf"[0-9]{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        if digit != "0":
            low = "1" if i == 0 and len(text) > 1 else "0"
            rest = len(text) - i - 1
            if int(digit) - 1 >= int(low):
                options.append(
                    text[:i] + f"[{low}-{int(digit) - 1}]" + (rf"[0-9]{{{rest}}}" if rest else "")
                )
    options.append(text)
    return "(?:" + "|".join(options) + ")"


class ProblemContentPlugin(BasePlugin):
    """Document responses that use the ``Problem`` schema as ``application/problem+json``.

    Views declare error responses with ``@blp.alt_response(409, schema="Problem")``; without
    this plugin flask-smorest would list them under ``application/json``, which is not what the
    error handlers send.
    """

    REF = "#/components/schemas/Problem"

    def operation_helper(
        self, path: str | None = None, operations: Mapping[str, Any] | None = None, **_: Any
    ) -> None:
        """Move ``Problem`` bodies of every operation's responses to the problem media type."""
        for operation in (operations or {}).values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                content = response.get("content") if isinstance(response, dict) else None
                if not content or "application/json" not in content:
                    continue
                schema = content["application/json"].get("schema")
                if self._is_problem(schema):
                    content[PROBLEM_MIME] = content.pop("application/json")

    def _is_problem(self, schema: Any) -> bool:
        if schema in ("Problem", ProblemSchema) or isinstance(schema, ProblemSchema):
            return True
        return isinstance(schema, dict) and schema.get("$ref") == self.REF


# An operation lists its validation status (422, or 400 where its blueprint chose it; see
# app.blueprint) by one of these responses.
VALIDATION_DESCRIPTIONS = {
    http.HTTPStatus.BAD_REQUEST: (
        "Bad Request: the request is malformed, or -- on an operation whose validation status is "
        "400 -- failed validation (code VALIDATION_ERROR, `errors` lists each field)."
    ),
    http.HTTPStatus.UNPROCESSABLE_ENTITY: (
        "Unprocessable Entity: the request failed validation (code VALIDATION_ERROR, `errors` "
        "lists each field), or a check of its own code refused it."
    ),
}


class JunctionApi(Api):
    """flask-smorest ``Api`` whose errors are problem documents, in the app and in the spec."""

    def handle_http_exception(self, error: HTTPException) -> Response:
        """Render every HTTP error as ``application/problem+json``."""
        return handle_http_exception(error)

    def _register_responses(self) -> None:
        """Document every error response (and ``default``) as a problem document."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {
                "description": VALIDATION_DESCRIPTIONS.get(status, status.phrase)
            }
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = ProblemSchema
            prepare_response(response, self.spec, PROBLEM_MIME)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem document (RFC 9457).", "schema": ProblemSchema}
        prepare_response(response, self.spec, PROBLEM_MIME)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def api_config(app: Flask) -> None:
    """flask-smorest settings: OpenAPI 3.1 at ``/api/openapi.json``, Swagger UI and ReDoc."""
    app.config.setdefault("API_TITLE", "Junction")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # Swagger UI and ReDoc load their files from Junction itself, so both work offline.
    apidocs.docs_config(app)
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
    """Create the Api on ``app`` and serve the documentation pages' assets."""
    api_config(app)
    # Before any blueprint registers a route, so every ``<int:...>`` is bounded.
    app.url_map.converters["int"] = DbIntConverter
    api = JunctionApi(
        app, spec_kwargs={"extra_plugins": [ProblemContentPlugin(), ValidationStatusPlugin()]}
    )
    if "Problem" not in api.spec.components.schemas:  # the error responses may have added it
        api.spec.components.schema("Problem", schema=ProblemSchema)
    app.before_request(reject_failed_plugin_requests)
    apidocs.register_assets(app)
    return api


# -- problem schema for the OpenAPI document ----------------------------------------------------


class FieldErrorSchema(ma.Schema):
    """One invalid field of a validation problem."""

    field = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    code = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem document with Junction's extension members.

    Open to further members: plugins add their own (the Jira plugin's ``error_category``...).
    """

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    code = ma.fields.String(required=True)
    correlation_id = ma.fields.String(allow_none=True)
    retryable = ma.fields.Boolean(required=True)
    errors = ma.fields.List(ma.fields.Nested(FieldErrorSchema))
