"""The flask-smorest ``Api``, the shared pagination convention and request-shape guards."""

from __future__ import annotations

import datetime as dt
import functools
import http
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import marshmallow as ma
import sqlalchemy as sa
from apispec import BasePlugin
from flask import Flask, Response, current_app, request, send_from_directory
from flask_smorest import Api
from flask_smorest.arguments import ArgumentsMixin
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from app.bodies import JunctionParser
from app.db import db
from app.errors import PROBLEM_MIME, field_error, handle_http_exception, problem
from app.fastdump import FastDumpSchema
from app.jsonparse import parse_json as parse_json  # re-exported: the one JSON parser
from app.plugins import reject_failed_plugin_requests

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The largest value an ``Integer`` column holds on PostgreSQL (and a safe bound on SQLite):
# ids and offsets above it can match nothing, and passing them to the driver would raise.
DB_INT_MAX = 2**31 - 1

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


class JunctionApi(Api):
    """flask-smorest ``Api`` whose errors are problem documents, in the app and in the spec."""

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        """Render every HTTP error as ``application/problem+json``."""
        return handle_http_exception(error)

    def _register_responses(self) -> None:
        """Document every error response (and ``default``) as a problem document."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
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
    # Before any blueprint registers a route, so every ``<int:...>`` is bounded.
    app.url_map.converters["int"] = DbIntConverter
    api = JunctionApi(app, spec_kwargs={"extra_plugins": [ProblemContentPlugin()]})
    if "Problem" not in api.spec.components.schemas:  # the error responses may have added it
        api.spec.components.schema("Problem", schema=ProblemSchema)
    app.before_request(reject_failed_plugin_requests)

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


def raw_body(view: F | None = None, *, content_types: tuple[str, ...] | None = None) -> Any:
    """Mark a view that reads the raw body itself (webhooks), so no JSON content type is forced.

    ``@raw_body(content_types=("application/json",))`` still refuses (415) a body of any other
    type: a web page can POST ``text/plain`` cross-site without a preflight, so a view that
    parses the body regardless of its type takes requests no API client would send. Such a view
    parses JSON with :func:`parse_json`.
    """

    def mark(target: F) -> F:
        target._junction_raw_body = True  # type: ignore[attr-defined]
        target._junction_raw_types = content_types  # type: ignore[attr-defined]
        return target

    return mark(view) if view is not None else mark


def require_json_body() -> Response | None:
    """Request-shape guard for ``/api``: 415 for a body that is not JSON, 422 for NUL characters.

    Without the 415 a form-encoded POST would be parsed as an empty JSON object and answered with
    a confusing "missing field" error instead of naming the real mistake. NUL characters are
    refused in the path, the query string and JSON strings because PostgreSQL cannot store them
    in text: rejecting them here gives every endpoint, plugins' included, a 422 instead of a
    driver error. Parsing the body here (once, cached for the view) also applies
    :func:`parse_json`'s limits to every JSON body: nesting, long integers and unpaired UTF-16
    surrogates (``"\\ud800"``) become problem documents before any view runs.
    """
    too_large = _chunked_body_too_large()
    if too_large is not None:
        return too_large
    if not request.path.startswith("/api/"):
        return None
    nul = _nul_problem()
    if nul is not None:
        return nul
    if request.method not in BODY_METHODS:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    raw_types = _raw_types(view)
    if raw_types is not None:
        if request.mimetype in raw_types:
            return None
        return problem(
            415,
            f"Send the body as {' or '.join(raw_types)} "
            f"(got {request.mimetype or 'no content type'}).",
        )
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if not has_body or request.is_json:
        return None
    if view is not None and _is_raw(view):
        return None
    return problem(
        415,
        f"Send the body as application/json (got {request.mimetype or 'no content type'}).",
    )


def _chunked_body_too_large() -> Response | None:
    """413 for a chunked body (no ``Content-Length``) longer than ``MAX_CONTENT_LENGTH``.

    Werkzeug stops reading such a body at the limit and hands the view the truncated bytes
    (a 12 MB JSON body then fails as malformed, 400): read one byte past the limit to tell a
    body of exactly the limit from a longer one.
    """
    if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return None
    limit = request.max_content_length
    if limit is None or request.content_length is not None:
        return None
    if len(request.get_data(cache=True)) < limit or not request.environ["wsgi.input"].read(1):
        return None
    return problem(
        413, f"Request bodies are limited to {limit} bytes (JUNCTION_MAX_CONTENT_LENGTH)."
    )


def _nul_problem() -> Response | None:
    bad: list[dict[str, str]] = []
    if "\x00" in request.path:
        bad.append(field_error("path", "Must not contain NUL characters.", "nul_character"))
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            bad.append(field_error(name, "Must not contain NUL characters.", "nul_character"))
    if request.is_json and not _is_raw(current_app.view_functions.get(request.endpoint or "")):
        # ``silent``: malformed JSON is reported by the view's own parser (400 MALFORMED_JSON).
        body = request.get_json(silent=True)
        bad.extend(
            field_error(path, "Must not contain NUL characters.", "nul_character")
            for path in _nul_paths(body, "")
        )
    if not bad:
        return None
    return problem(422, "NUL characters (\\u0000) are not accepted.", errors=bad)


def _has_nul(text: str) -> bool:
    return "\x00" in text


def _nul_paths(value: Any, path: str, bad: Callable[[str], bool] = _has_nul) -> list[str]:
    """Field paths (``a.b.0``) of the JSON strings, or object keys, where ``bad`` holds
    (by default: that contain NUL)."""
    if isinstance(value, str):
        return [path] if bad(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if bad(str(key)):
                found.append(child)
            found.extend(_nul_paths(item, child, bad))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_nul_paths(item, f"{path}.{index}" if path else str(index), bad))
    return found


# Both cached per view function: the marks are set when the view is defined.
@functools.lru_cache(maxsize=1024)
def _raw_types(view: Callable[..., Any] | None) -> tuple[str, ...] | None:
    while view is not None:
        types = getattr(view, "_junction_raw_types", None)
        if types is not None:
            return tuple(types)
        view = getattr(view, "__wrapped__", None)
    return None


@functools.lru_cache(maxsize=1024)
def _is_raw(view: Callable[..., Any] | None) -> bool:
    while view is not None:
        if getattr(view, "_junction_raw_body", False):
            return True
        view = getattr(view, "__wrapped__", None)  # type: ignore[assignment]
    return False


# -- fields ------------------------------------------------------------------------------------

# Timestamps outside these years cannot be converted to UTC without overflowing Python's
# datetime (year 1 at +01:00) and mean nothing to Junction; refuse them as invalid input.
MIN_YEAR, MAX_YEAR = 1900, 9998


class UtcDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 timestamp, loaded as an aware UTC datetime (naive input is taken as UTC)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise ma.ValidationError(f"Year must be between {MIN_YEAR} and {MAX_YEAR}.")
        return moment.astimezone(dt.UTC)


class DbInteger(ma.fields.Integer):
    """An integer that fits the database's ``Integer`` column (and so is safe in any query)."""

    def __init__(self, *, min: int = -DB_INT_MAX - 1, max: int = DB_INT_MAX, **kwargs: Any):
        validators = [ma.validate.Range(min=min, max=max)]
        extra = kwargs.pop("validate", None)
        if extra is not None:
            validators.extend(extra if isinstance(extra, list | tuple) else [extra])
        super().__init__(validate=validators, **kwargs)


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
        validate=ma.validate.Range(min=0, max=DB_INT_MAX),
        metadata={"description": "Items to skip."},
    )


class PageSchema(FastDumpSchema):
    """Envelope fields shared by every page: ``total``, ``limit``, ``offset``.

    Pages dump through :mod:`app.fastdump` (marshmallow's output, a fraction of its cost).
    """

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


def paginate(
    query: sa.Select[Any], limit: int, offset: int, *, rows: bool = False
) -> dict[str, Any]:
    """Run ``query`` for one page and count the whole; the envelope every list returns.

    The items are the first column of each result row (the entity of ``select(Model)``), or with
    ``rows=True`` each whole row as a dict by column name (for a ``select`` of columns).

    The page and the total come from one statement, the count as an uncorrelated scalar
    subquery beside the page's columns: evaluated once by SQLite and PostgreSQL, and unlike
    ``count(*) OVER ()`` it leaves the page's ORDER BY ... LIMIT free to use an index. It counts
    exactly what the separate ``count`` did (the query without its ORDER BY), so DISTINCT and
    GROUP BY queries are counted as before. Only an empty page past the end (where no row
    carries the total) costs a second statement.

    A caller that keeps its ``query`` object (a module-level ``select``) pays for building the
    page statement and its cache key once: both are kept with the query, and limit and offset
    are bound parameters. A ``rows=True`` page needs no ORM: when the request has no session
    yet it reads on a connection of its own (what a new session would do, without setting one
    up and closing it), otherwise on the session's connection after the same autoflush, so it
    sees the session's own changes.
    """
    page = _page_statements(query)
    params = {_LIMIT_PARAM: limit, _OFFSET_PARAM: offset}
    if not rows:
        result = db.session.execute(page.counted, params).all()
        items = [row[0] for row in result]
    elif page.engine_key is not _NO_ENGINE and not db.session.registry.has():
        with db.engines[page.engine_key].connect() as connection:
            result = connection.execute(page.counted, params).all()
        items = _as_dicts(result)
    else:
        session = db.session()
        if session.autoflush:
            session.flush()
        result = session.connection().execute(page.counted, params).all()
        items = _as_dicts(result)
    if result:
        total = result[0][-1]
    elif offset:
        total = db.session.scalar(page.count) or 0
    else:
        total = 0
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _as_dicts(result: Sequence[sa.Row[Any]]) -> list[dict[str, Any]]:
    if not result:
        return []
    keys = list(result[0]._fields[:-1])  # the query's columns, not the total beside them
    return [dict(zip(keys, row, strict=False)) for row in result]


_LIMIT_PARAM, _OFFSET_PARAM = "_junction_limit", "_junction_offset"
_NO_ENGINE = object()


@dataclass(frozen=True)
class _PageStatements:
    counted: sa.Select[Any]  # the page with the total as its last column
    count: sa.Select[Any]
    engine_key: Any  # flask-sqlalchemy bind key of every table read, or _NO_ENGINE


# query -> its page statements; entries go with their query.
_PAGE_STATEMENTS: weakref.WeakKeyDictionary[sa.Select[Any], _PageStatements]
_PAGE_STATEMENTS = weakref.WeakKeyDictionary()


def _page_statements(query: sa.Select[Any]) -> _PageStatements:
    statements = _PAGE_STATEMENTS.get(query)
    if statements is None:
        count = _count_query(query)
        counted = (
            query.add_columns(count.scalar_subquery().label("_junction_total"))
            .limit(sa.bindparam(_LIMIT_PARAM, type_=sa.Integer))
            .offset(sa.bindparam(_OFFSET_PARAM, type_=sa.Integer))
        )
        statements = _PageStatements(counted, count, _engine_key(query))
        _PAGE_STATEMENTS[query] = statements
    return statements


def _engine_key(query: sa.Select[Any]) -> Any:
    """The bind key of the one engine holding every table ``query`` reads (flask-sqlalchemy
    keeps it in the table's metadata), or ``_NO_ENGINE`` when there is no single one."""
    keys = {
        table.metadata.info.get("bind_key")
        for table in sa.sql.util.find_tables(query, include_joins=True)
    }
    return keys.pop() if len(keys) == 1 else _NO_ENGINE


def _count_query(query: sa.Select[Any]) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(query.order_by(None).subquery())


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
