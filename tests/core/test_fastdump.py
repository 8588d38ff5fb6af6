"""``app.fastdump``: list pages dump exactly as marshmallow dumps them, only faster."""

from __future__ import annotations

import datetime as dt
import decimal
import types
from typing import Any

import marshmallow as ma
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api import page_of
from app.domain import schemas as domain
from app.fastdump import FastDumpSchema, compile_dumper


def reference(schema: ma.Schema, obj: Any) -> Any:
    """marshmallow's own ``Schema.dump``, bypassing the fast path."""
    return ma.Schema.dump(schema, obj)


def outcome(dump: Any, schema: ma.Schema, obj: Any) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", exception type)``: bad values must fail alike."""
    try:
        return "ok", dump(schema, obj)
    except Exception as exc:
        return "error", type(exc)


moments = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9998, 12, 31)
) | st.datetimes(
    min_value=dt.datetime(1900, 1, 2),
    max_value=dt.datetime(9998, 12, 30),
    timezones=st.just(dt.UTC) | st.just(dt.timezone(dt.timedelta(hours=-5))),
)
texts = st.text(max_size=20)
scalars = st.none() | st.booleans() | st.integers() | texts | moments | st.binary(max_size=5)


def rows_for(schema: ma.Schema) -> st.SearchStrategy[dict[str, Any]]:
    """Mappings with any subset of the schema's attributes, each of a plausible type or None."""
    by_type: dict[type, st.SearchStrategy[Any]] = {
        ma.fields.String: texts | st.binary(max_size=5).map(lambda b: b.hex().encode()),
        ma.fields.Integer: st.integers() | st.booleans(),
        ma.fields.Boolean: st.booleans() | st.integers(0, 1),
        ma.fields.DateTime: moments,
        ma.fields.List: st.lists(st.integers() | texts, max_size=3),
    }
    entries = {}
    for name, field in schema.dump_fields.items():
        source = (field.attribute or name).split(".")[0]
        kind = next((k for k in by_type if isinstance(field, k)), None)
        values = by_type[kind] if kind else scalars
        entries[source] = st.none() | values
    return st.fixed_dictionaries({}, optional=entries)


PAGE_SCHEMAS = [domain.ProjectPageSchema(), domain.FeaturePageSchema(), domain.TestRunPageSchema()]


def test_every_domain_page_schema_is_compiled() -> None:
    """The list pages take the fast path (a regression would only show in the benchmark)."""
    for schema in PAGE_SCHEMAS:
        assert compile_dumper(schema) is not None, type(schema).__name__


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_pages_of_mappings_dump_as_marshmallow_does(data: st.DataObject) -> None:
    """Rows as mappings (``paginate(rows=True)``), with missing keys and ``None`` values."""
    for schema in PAGE_SCHEMAS:
        items_field = schema.fields["items"]
        assert isinstance(items_field, ma.fields.List)
        assert isinstance(items_field.inner, ma.fields.Nested)
        item_schema = items_field.inner.schema
        items = data.draw(st.lists(rows_for(item_schema), max_size=4))
        page = {"items": items, "total": len(items), "limit": 50, "offset": 0}
        fast = outcome(type(schema).dump, schema, page)
        assert fast == outcome(reference, schema, page)


@given(names=st.lists(st.text(max_size=10), max_size=3))
def test_objects_with_dotted_attributes_dump_as_marshmallow_does(names: list[str]) -> None:
    """ORM-like objects (attribute access, ``attribute="project.name"``)."""
    schema = domain.FeaturePageSchema()
    now = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    items = [
        types.SimpleNamespace(
            id=i,
            project=types.SimpleNamespace(name="demo"),
            name=name,
            description="d",
            priority=i,
            category="c",
            steps=["a", {"b": 1}],
            dependencies=[1, 2],
            acceptance_criteria=[],
            passes=bool(i % 2),
            in_progress=False,
            planning_work_item_id=None,
            planning_synced_at=None,
            planning_updated_at=now,
            created_at=now,
            updated_at=now.replace(tzinfo=None),
        )
        for i, name in enumerate(names)
    ]
    page = {"items": items, "total": 9, "limit": 3, "offset": 6}
    dumped = schema.dump(page)
    assert dumped == reference(schema, page)
    assert [item["project"] for item in dumped["items"]] == ["demo"] * len(names)


class Upper(ma.fields.Field):
    """A field with its own ``_serialize``: must go through marshmallow's path."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else str(value).upper()


class Odd(ma.Schema):
    """Every kind of field the fast path must leave to marshmallow, or get right itself."""

    renamed = ma.fields.String(data_key="renamed-key")
    quoted = ma.fields.String(data_key='it\'s "quoted"\n', attribute="odd 'source'")
    sourced = ma.fields.Integer(attribute="source")
    counted = ma.fields.Integer(as_string=True)
    money = ma.fields.Decimal()
    ratio = ma.fields.Float()
    day = ma.fields.Date()
    clock = ma.fields.Time()
    stamp = ma.fields.DateTime(format="%Y/%m/%d")
    epoch = ma.fields.DateTime(format="timestamp")
    shout = Upper()
    method = ma.fields.Method("describe")
    function = ma.fields.Function(lambda obj: "f")
    mapping = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    pluck = ma.fields.Pluck(domain.ProjectSchema, "name")
    tags = ma.fields.List(Upper())
    defaulted = ma.fields.String(dump_default="fallback")
    called = ma.fields.Integer(dump_default=lambda: 7)
    nested = ma.fields.Nested(domain.ProjectSchema, allow_none=True)
    nested_many = ma.fields.Nested(domain.ProjectSchema, many=True)

    def describe(self, obj: Any) -> str:
        """The value of ``method``."""
        return "m"


OddPage = page_of(Odd)


def test_fields_outside_the_fast_set_dump_as_marshmallow_does() -> None:
    """Custom, method, function, pluck and formatted fields; data_key, attribute, defaults."""
    project = {
        "name": "p",
        "path": "/x",
        "description": "",
        "created_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "updated_at": dt.datetime(2024, 1, 2),
    }
    full = {
        "renamed": "r",
        "odd 'source'": 5,
        "source": "12",
        "counted": 5,
        "money": decimal.Decimal("1.50"),
        "ratio": 2,
        "day": dt.date(2024, 2, 3),
        "clock": dt.time(4, 5),
        "stamp": dt.datetime(2024, 2, 3, 4, 5),
        "epoch": dt.datetime(2024, 2, 3, tzinfo=dt.UTC),
        "shout": "abc",
        "mapping": {"a": "1"},
        "pluck": project,
        "tags": ["x", None],
        "nested": project,
        "nested_many": [project, project],
    }
    sparse: dict[str, Any] = {"nested": None, "tags": None}
    schema = OddPage()
    page = {"items": [full, sparse, types.SimpleNamespace(**full)], "total": 3}
    dumped = schema.dump(page)
    assert dumped == reference(schema, page)
    assert dumped["items"][1]["defaulted"] == "fallback" and dumped["items"][1]["called"] == 7
    assert dumped["items"][0]["renamed-key"] == "r" and dumped["items"][0]["sourced"] == 12
    assert dumped["items"][0]['it\'s "quoted"\n'] == "5"  # keys become literals in the code


class Hooked(ma.Schema):
    """A schema with a dump hook: compiled dumping would skip it, so it is not compiled."""

    name = ma.fields.String()

    @ma.post_dump
    def _mark(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["hooked"] = True
        return data


class HookedPage(FastDumpSchema):
    """A page whose envelope itself has a hook."""

    total = ma.fields.Integer()
    items = ma.fields.List(ma.fields.Nested(Hooked))

    @ma.pre_dump
    def _count(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, "total": len(data["items"])}


def test_schemas_with_dump_hooks_keep_marshmallows_path() -> None:
    """Hooks run, on the page and on its items."""
    assert compile_dumper(Hooked()) is None and compile_dumper(HookedPage()) is None
    page = {"items": [{"name": "a"}, types.SimpleNamespace(name=3)]}
    assert HookedPage().dump(page) == {
        "total": 2,
        "items": [{"name": "a", "hooked": True}, {"name": "3", "hooked": True}],
    }
    nested = page_of(Hooked)()
    assert compile_dumper(nested) is not None  # the envelope is compiled, the items are not
    assert nested.dump({"items": [{"name": "b"}]})["items"] == [{"name": "b", "hooked": True}]


def test_many_and_none_take_marshmallows_path() -> None:
    """``dump(many=True)`` and ``dump(None)`` are marshmallow's own."""
    schema = domain.ProjectPageSchema()
    pages = [{"items": [], "total": 0, "limit": 1, "offset": 0}] * 2
    assert schema.dump(pages, many=True) == reference(domain.ProjectPageSchema(many=True), pages)
    assert schema.dump(None) == reference(schema, None)


def test_iso_text_passes_through_iso_timestamp_fields_only() -> None:
    """A timestamp already read as ISO text (``app.db.iso_text``) is its own ISO form; a field
    with another format still formats a datetime and is not given text to pass through."""

    class Stamps(FastDumpSchema):
        iso = ma.fields.DateTime()
        rfc = ma.fields.DateTime(format="rfc")

    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    schema = Stamps()
    assert schema.dump({"iso": "2026-01-02T03:04:05+00:00", "rfc": moment}) == {
        "iso": "2026-01-02T03:04:05+00:00",
        "rfc": ma.Schema.from_dict({"rfc": ma.fields.DateTime(format="rfc")})().dump(
            {"rfc": moment}
        )["rfc"],
    }
    assert schema.dump({"iso": moment, "rfc": moment})["iso"] == moment.isoformat()
    assert schema.dump({"iso": None, "rfc": None}) == {"iso": None, "rfc": None}
