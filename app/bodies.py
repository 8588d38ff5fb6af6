"""Request bodies: Flask's JSON provider and the webargs parser both go through
:func:`app.jsonparse.parse_json`, and JSON bodies are typed strictly.

marshmallow's number and boolean fields accept what a query string needs (``"1"``, ``"true"``)
and truncate ``1.5`` to ``1``. In a JSON body a client states the type itself, so there an
``Integer`` field takes JSON integers only, a ``Float``/``Number`` field JSON numbers, and a
``Boolean`` field ``true``/``false``; anything else is a 422 ``invalid_type`` beside the body's
other errors. Query strings and paths keep marshmallow's conversions.
"""

from __future__ import annotations

from typing import Any, cast

import marshmallow as ma
from flask import Response
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from app.jsondump import dumps_bytes
from app.jsonparse import parse_json

__all__ = ["JunctionJSONProvider", "JunctionParser", "strict_json_types"]


class JunctionJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with :func:`parse_json`'s limits (``request.get_json()``), encoding
    with :func:`app.jsondump.dumps_bytes` (UTF-8, not ``\\u`` escapes)."""

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """``json.dumps(obj, **kwargs)`` with this provider's defaults; the compact and the
        two-space forms (what responses use) are encoded by :func:`dumps_bytes`."""
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("sort_keys", self.sort_keys)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        indent, separators = kwargs.get("indent"), kwargs.get("separators")
        fast = (indent is None and separators == (",", ":")) or (indent == 2 and not separators)
        if fast and set(kwargs) <= _FAST_ARGUMENTS and not kwargs["ensure_ascii"]:
            encoded = dumps_bytes(
                obj, kwargs["default"], sort_keys=kwargs["sort_keys"], indent=indent
            )
            return encoded.decode()
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Flask's ``response`` (indented in debug mode or when not ``compact``), the body
        encoded once, straight to bytes."""
        obj = self._prepare_response_obj(args, kwargs)
        indent = 2 if (self.compact is None and self._app.debug) or self.compact is False else None
        body = dumps_bytes(obj, self.default, sort_keys=self.sort_keys, indent=indent)
        response_class = cast(type[Response], self._app.response_class)
        return response_class(body + b"\n", mimetype=self.mimetype)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s`` with Junction's limits (``kwargs`` are not supported and ignored)."""
        return parse_json(s)


class _WrongType:
    """A value every number and boolean field refuses as ``invalid``: it stands in for a JSON
    value of the wrong type so marshmallow reports it with the body's other errors."""

    def __repr__(self) -> str:
        return "<wrong JSON type>"


_WRONG = _WrongType()
# ``json.dumps`` arguments :func:`dumps_bytes` honours (others take ``json`` itself).
_FAST_ARGUMENTS = frozenset({"default", "sort_keys", "ensure_ascii", "indent", "separators"})


class JunctionParser(FlaskParser):
    """The webargs parser of every flask-smorest blueprint: one parse of the body (Flask's
    cached ``get_json``, i.e. :func:`parse_json`), strict JSON types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        """One instance per schema class, as for a view given an instance: webargs would build
        a new one (its fields and their validators) for every request."""
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        if not raw.strip():
            return core.missing  # an empty body: the schema reports its required fields
        value = req.get_json(cache=True, silent=True)
        # ``None``: malformed (or ``null``); parse again for the precise problem document.
        return parse_json(raw) if value is None else value

    def pre_load(self, location_data: Any, *, schema: ma.Schema, req: Any, location: str) -> Any:
        """Mark JSON values of the wrong type for number and boolean fields (see module)."""
        if location != "json":
            return location_data
        return strict_json_types(schema, location_data)


def strict_json_types(schema: ma.Schema, data: Any) -> Any:
    """``data`` with every value of the wrong JSON type for its field replaced by a value the
    field refuses; the input is not changed."""
    if schema.many and isinstance(data, list):
        return [_strict_object(schema, item) for item in data]
    return _strict_object(schema, data)


def _strict_object(schema: ma.Schema, data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    by_key = {field.data_key or name: field for name, field in schema.load_fields.items()}
    out = dict(data)
    for key, value in data.items():
        field = by_key.get(key)
        if field is not None:
            out[key] = _strict_value(field, value)
    return out


def _strict_value(field: ma.fields.Field[Any], value: Any) -> Any:
    if value is None:
        return value
    if isinstance(field, ma.fields.Integer):
        return value if isinstance(value, int) and not isinstance(value, bool) else _WRONG
    if isinstance(field, ma.fields.Number):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else _WRONG
    if isinstance(field, ma.fields.Boolean):
        return value if isinstance(value, bool) else _WRONG
    if isinstance(field, ma.fields.Nested) and isinstance(field.schema, ma.Schema):
        nested = field.schema
        if (field.many or nested.many) and isinstance(value, list):
            return [_strict_object(nested, item) for item in value]
        return _strict_object(nested, value)
    if isinstance(field, ma.fields.List) and isinstance(value, list):
        return [_strict_value(field.inner, item) for item in value]
    if isinstance(field, ma.fields.Tuple) and isinstance(value, list):
        return [
            _strict_value(inner, item)
            for inner, item in zip(field.tuple_fields, value, strict=False)
        ] + value[len(field.tuple_fields) :]
    if isinstance(field, ma.fields.Dict) and isinstance(value, dict) and field.value_field:
        return {k: _strict_value(field.value_field, v) for k, v in value.items()}
    return value
