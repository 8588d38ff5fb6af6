"""The list convention of every endpoint: ``limit``/``offset`` in, ``{items, total, limit,
offset}`` out, the page and its total read in one statement."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import marshmallow as ma
import sqlalchemy as sa

from app.db import db
from app.fastdump import FastDumpSchema
from app.fields import DB_INT_MAX

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


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
    query: sa.Select[*tuple[Any, ...]], limit: int, offset: int, *, rows: bool = False
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
    counted: sa.Select[*tuple[Any, ...]]  # the page with the total as its last column
    count: sa.Select[*tuple[Any, ...]]
    engine_key: Any  # flask-sqlalchemy bind key of every table read, or _NO_ENGINE


# query -> its page statements; entries go with their query.
_PAGE_STATEMENTS: weakref.WeakKeyDictionary[sa.Select[*tuple[Any, ...]], _PageStatements]
_PAGE_STATEMENTS = weakref.WeakKeyDictionary()


def _page_statements(query: sa.Select[*tuple[Any, ...]]) -> _PageStatements:
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


def _engine_key(query: sa.Select[*tuple[Any, ...]]) -> Any:
    """The bind key of the one engine holding every table ``query`` reads (flask-sqlalchemy
    keeps it in the table's metadata), or ``_NO_ENGINE`` when there is no single one."""
    keys = {
        # find_tables is typed as returning TableClauses; a model's table is a full Table.
        cast(sa.Table, table).metadata.info.get("bind_key")
        for table in sa.sql.util.find_tables(query, include_joins=True)
    }
    return keys.pop() if len(keys) == 1 else _NO_ENGINE


def _count_query(query: sa.Select[*tuple[Any, ...]]) -> sa.Select[*tuple[Any, ...]]:
    return sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
