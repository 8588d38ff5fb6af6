"""Answers' JSON (``app.jsondump``): the same JSON values Flask's provider gives."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid
from typing import Any

import pytest
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from hypothesis import given
from hypothesis import strategies as st

from app.jsondump import dumps_bytes

_flask_default = DefaultJSONProvider.default

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=json_values, sort_keys=st.booleans(), indent=st.sampled_from([None, 2]))
def test_plain_values_encode_as_json_does(value: Any, sort_keys: bool, indent: int | None) -> None:
    """Byte for byte what ``json.dumps`` gives in the same form (UTF-8, not escapes)."""
    separators = (",", ":") if indent is None else None
    expected = json.dumps(
        value, sort_keys=sort_keys, indent=indent, separators=separators, ensure_ascii=False
    )
    got = dumps_bytes(value, _flask_default, sort_keys=sort_keys, indent=indent)
    assert json.loads(got) == json.loads(expected)
    if not _has_float(value):  # float spellings may differ (1e16 / 1e+16), not their values
        assert got.decode() == expected


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


@dataclasses.dataclass
class Point:
    x: int
    when: dt.date


def test_flasks_own_types_keep_flasks_conversion() -> None:
    """Dates as HTTP dates, Decimal and UUID as text, dataclasses as dicts, int keys as text,
    integers beyond 64 bits exactly (``json`` takes those)."""
    ident = uuid.UUID(int=7)
    value = {
        "moment": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "amount": decimal.Decimal("1.50"),
        "id": ident,
        "point": Point(1, dt.date(2026, 1, 2)),
        1: "one",
        "big": 2**70,
    }
    expected = json.dumps(value, default=_flask_default, separators=(",", ":"))
    assert json.loads(dumps_bytes(value, _flask_default)) == json.loads(expected)


def test_an_unknown_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_bytes({"x": object()}, _flask_default)


def test_responses_and_dumps_go_through_the_provider(app: Flask) -> None:
    """``jsonify`` answers compact UTF-8 JSON ending in a newline; ``dumps`` without
    separators keeps ``json``'s spaced form (templates' ``tojson`` rely on it)."""
    with app.app_context():
        response = app.json.response({"name": "Zoë", "n": 1})
        assert isinstance(response, Response)  # annotated as werkzeug's sans-IO base class
        assert response.get_data() == '{"name":"Zoë","n":1}\n'.encode()
        assert app.json.dumps({"a": None}) == '{"a": null}'
        assert app.json.dumps({"a": [1]}, indent=2) == '{\n  "a": [\n    1\n  ]\n}'
