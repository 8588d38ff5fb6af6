"""A faster ``Schema.dump`` for list pages, with exactly marshmallow's output.

Dumping a page of 50 rows through marshmallow calls ``Field.serialize`` → ``get_value`` →
``Schema.get_attribute`` → ``utils.get_value`` → ``_serialize`` for every field of every row,
which made it the largest single cost of a list endpoint. :func:`compile_dumper` reads a schema's
fields once and generates a function (straight-line code, one block per field) that does the
same work with the indirections resolved in advance: the value is read as ``utils.get_value``
reads it (``obj[key]``, else ``getattr``), a missing value takes the field's ``dump_default``
and is left out when that is missing too, and the conversion is the field's own ``_serialize``
logic for the field types a page uses (strings, numbers, booleans, raw values, timestamps,
lists and nested schemas).

Anything else keeps marshmallow's own path: a field of another type (or with its own
``serialize``/``get_value``) is dumped by ``field.serialize`` as ``Schema._serialize`` does, and
a schema with ``pre_dump``/``post_dump`` hooks or its own ``get_attribute`` is not compiled at all
(:func:`compile_dumper` returns ``None``). ``tests/core/test_fastdump.py`` compares both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields, utils
from marshmallow.decorators import POST_DUMP, PRE_DUMP

__all__ = ["FastDumpSchema", "compile_dumper"]

Dumper = Callable[[Any], dict[str, Any]]
Converter = Callable[[Any], Any]

_MISSING = ma.missing
# ``utils._get_value_for_key`` falls back to ``getattr`` on exactly these.
_LOOKUP_ERRORS = (KeyError, IndexError, TypeError, AttributeError)
_BASE_SERIALIZE = fields.Field._serialize
_STRING_SERIALIZE = fields.String._serialize
_NUMBER_SERIALIZE = fields.Number._serialize
_NUMBER_FORMAT = fields.Number._format_num
_TEMPORAL_SERIALIZE = fields.DateTime._serialize
_LIST_SERIALIZE = fields.List._serialize
# Typed loosely: mypy deems distinct signatures never identical; this is an identity check.
_NESTED_SERIALIZE: Callable[..., Any] = fields.Nested._serialize


def _identity(value: Any) -> Any:
    return value


def _string(value: Any) -> Any:
    if type(value) is str:
        return value
    return None if value is None else utils.ensure_text_type(value)


def _converter(field: fields.Field[Any]) -> Converter | None:
    """``value -> field._serialize(value, ...)`` for the field types whose ``_serialize`` reads
    nothing but the value; ``None`` for any other field."""
    serialize = type(field)._serialize
    if serialize is _BASE_SERIALIZE:
        return _identity
    if serialize is _STRING_SERIALIZE:
        return _string
    if serialize is _NUMBER_SERIALIZE and isinstance(field, fields.Number):
        if field.as_string or type(field)._format_num is not _NUMBER_FORMAT:
            return None
        num_type = field.num_type
        return lambda value: None if value is None else num_type(value)
    if serialize is _TEMPORAL_SERIALIZE and isinstance(
        field, fields.DateTime | fields.Date | fields.Time
    ):
        data_format = field.format or field.DEFAULT_FORMAT
        format_func = field.SERIALIZATION_FUNCS.get(data_format)
        if data_format == "iso" and format_func is not None and isinstance(field, fields.DateTime):
            # Text is a value already in this format: a timestamp read by ``app.db.iso_text``.
            iso = format_func
            return lambda value: value if type(value) is str or value is None else iso(value)
        if format_func is None:
            return lambda value: None if value is None else value.strftime(data_format)
        return lambda value: None if value is None else format_func(value)
    if serialize is _LIST_SERIALIZE and isinstance(field, fields.List):
        inner = _converter(field.inner)
        if inner is None:
            return None
        return lambda value: None if value is None else [inner(each) for each in value]
    if serialize is _NESTED_SERIALIZE and isinstance(field, fields.Nested):
        return _nested_converter(field)
    return None


def _nested_converter(field: fields.Nested) -> Converter:
    schema = field.schema
    many = bool(schema.many or field.many)
    one = compile_dumper(schema)
    if one is None:
        return lambda value: None if value is None else schema.dump(value, many=many)
    if many:
        return lambda value: None if value is None else [one(each) for each in value]
    return lambda value: None if value is None else one(value)


def _dump_default(field: fields.Field[Any]) -> Any:
    default = field.dump_default
    return default() if callable(default) else default


def compile_dumper(schema: ma.Schema) -> Dumper | None:
    """A function ``obj -> dict`` equal to ``schema.dump(obj, many=False)``, or ``None`` when
    the schema has dump hooks or its own ``get_attribute`` (then only ``dump`` is exact)."""
    cls = type(schema)
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        return None
    if cls.get_attribute is not ma.Schema.get_attribute:
        return None
    # (output key, attribute, converter, field): a ``None`` converter means ``field.serialize``.
    plan: list[tuple[str, str, Converter | None, fields.Field[Any]]] = []
    for attr_name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else attr_name
        source = attr_name if field.attribute is None else field.attribute
        plain = (
            type(field).serialize is fields.Field.serialize
            and type(field).get_value is fields.Field.get_value
            and field._CHECK_ATTRIBUTE
            and "." not in source
        )
        converter = _converter(field) if plain else None
        plan.append((key, source if converter else attr_name, converter, field))
    return _generate(plan, schema.dict_class, schema.get_attribute)


def _generate(
    plan: list[tuple[str, str, Converter | None, fields.Field[Any]]],
    dict_class: type[dict[str, Any]],
    accessor: Callable[..., Any],
) -> Dumper:
    """The dump function of ``plan`` as straight-line Python: one block per field, the reads
    and conversions spelled out, instead of a loop that unpacks the plan for every row."""
    names: dict[str, Any] = {
        "dict_class": dict_class,
        "accessor": accessor,
        "MISSING": _MISSING,
        "LOOKUP_ERRORS": _LOOKUP_ERRORS,
        "dump_default": _dump_default,
    }
    branches: dict[bool, list[str]] = {True: [], False: []}
    for index, (key, source, converter, field) in enumerate(plan):
        names[f"field{index}"], names[f"convert{index}"] = field, converter
        for subscript, lines in branches.items():
            if converter is None:
                lines += [
                    f"value = field{index}.serialize({source!r}, obj, accessor=accessor)",
                    "if value is not MISSING:",
                    f"    ret[{key!r}] = value",
                ]
                continue
            if subscript:
                lines += [
                    "try:",
                    f"    value = obj[{source!r}]",
                    "except LOOKUP_ERRORS:",
                    f"    value = getattr(obj, {source!r}, MISSING)",
                ]
            else:
                lines.append(f"value = getattr(obj, {source!r}, MISSING)")
            if converter is _identity:
                converted = "value"
            elif converter is _string:
                converted = f"value if type(value) is str else convert{index}(value)"
            else:
                converted = f"convert{index}(value)"
            lines += [
                "if value is MISSING:",
                f"    value = dump_default(field{index})",
                "if value is not MISSING:",
                f"    ret[{key!r}] = {converted}",
            ]
    body = ["def dump(obj):", "    ret = dict_class()", '    if hasattr(obj, "__getitem__"):']
    body += ["        " + line for line in branches[True]] or ["        pass"]
    body += ["    else:"] + (["        " + line for line in branches[False]] or ["        pass"])
    body.append("    return ret")
    # The source holds only reprs of the schema's own field names and keys, never request data.
    exec(compile("\n".join(body), "<app.fastdump>", "exec"), names)
    dumper: Dumper = names["dump"]
    return dumper


class FastDumpSchema(ma.Schema):
    """A schema whose single-object ``dump`` goes through :func:`compile_dumper` (same output).

    The base of every list page (``app.pagination.PageSchema``): the plan is made on the first
    dump of each schema instance and kept on it.
    """

    _junction_dumper: Dumper | None

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """``Schema.dump``; objects one at a time take the compiled path."""
        if (self.many if many is None else many) or obj is None:
            return super().dump(obj, many=many)
        try:
            dumper = self.__dict__["_junction_dumper"]
        except KeyError:
            try:
                dumper = compile_dumper(self)
            except Exception:  # e.g. an unresolvable nested schema: let dump() report it
                dumper = None
            self.__dict__["_junction_dumper"] = dumper
        if dumper is None:
            return super().dump(obj, many=many)
        return dumper(obj)
