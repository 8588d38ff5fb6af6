"""Database: the Flask-SQLAlchemy extension, the typed model base, SQLite pragmas and helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A fixed naming convention keeps constraint names identical on SQLite and PostgreSQL, so
# migrations written once apply to both and autogenerate compares them reliably.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every Junction model, core and plugin alike."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class JunctionSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy, with a teardown that costs nothing when a request used no session."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        # Most requests to a probe never touch the database; ``scoped_session.remove()`` finds
        # that out by raising and catching a KeyError (every request).
        if self.session.registry.has():
            self.session.remove()


db = JunctionSQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    # ``db.Model`` is a class Flask-SQLAlchemy builds at runtime (a subclass of Base), which a
    # type checker cannot use as a base class; models subclass this name instead.

    class Model(Base):
        """What ``db.Model`` is to a type checker: Base, each model mapped onto a Table."""

        __abstract__ = True
        __table__: ClassVar[sa.Table]

else:
    Model = db.Model


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (stored as naive UTC on SQLite)."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp that always comes back timezone-aware in UTC, on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """The driver type's processor and :meth:`process_result_value` fused into one function.

        ``TypeDecorator`` chains them through two more calls per value; a page of rows reads
        two timestamps a row, so the chain was a measurable part of every list endpoint.
        """
        impl_processor = self.impl_instance.result_processor(dialect, coltype)
        general = _utc_processor(impl_processor)
        return _sqlite_utc_processor(general) if dialect.name == "sqlite" else general


def _utc_processor(impl_processor: Any) -> Callable[[Any], dt.datetime | None]:
    """The driver's processor, then aware UTC (naive values are UTC, others converted)."""
    utc = dt.UTC

    def process(value: Any) -> dt.datetime | None:
        if impl_processor is not None:
            value = impl_processor(value)
        if value is None:
            return None
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=utc)
        return moment.astimezone(utc)

    return process


def _sqlite_utc_processor(
    general: Callable[[Any], dt.datetime | None],
) -> Callable[[Any], dt.datetime | None]:
    """SQLite keeps naive UTC text (``2026-11-25 03:20:46.123456``): parsing it with the UTC
    offset appended gives the aware value in one C call, where the driver's parser followed by
    ``replace(tzinfo=...)`` costs five times as much (about 2 µs a value, 100 values a page).
    Anything else (a stored offset, a bare date) takes the ``general`` path."""
    parse = dt.datetime.fromisoformat
    utc = dt.UTC

    def process(value: Any) -> dt.datetime | None:
        if type(value) is str:
            try:
                parsed = parse(value + "+00:00")
            except ValueError:
                pass
            else:
                # A bare date parses, but Python drops the offset then.
                return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=utc)
        return general(value)

    return process


class UTCIsoText(sa.types.TypeDecorator[str]):
    """A :class:`UTCDateTime` column read as the text an answer shows: ISO 8601 in UTC,
    exactly ``value.isoformat()`` of the aware value (``2026-11-25T03:20:46.123456+00:00``).

    For read-only pages (:func:`iso_text`): parsing SQLite's stored text into a ``datetime``
    and formatting it back cost about 1.6 µs a value (``isoformat`` of an aware value alone
    1.4 µs), two values a row; on SQLite the stored text is rearranged instead (0.3 µs).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        raise TypeError("UTCIsoText only reads; compare with the UTCDateTime column")

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """Stored text to answer text on SQLite; the aware value's ``isoformat`` otherwise."""
        moment = UTCDateTime().dialect_impl(dialect).result_processor(dialect, coltype)

        def general(value: Any) -> str | None:
            parsed = value if moment is None else moment(value)
            return None if parsed is None else parsed.isoformat()

        if dialect.name != "sqlite":
            return general

        def process(value: Any) -> str | None:
            # ``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC: what SQLAlchemy writes on SQLite.
            if type(value) is str and len(value) == 26 and value[10] == " " and value[19] == ".":
                if value.endswith(".000000"):  # isoformat leaves out zero microseconds
                    return value[:10] + "T" + value[11:19] + "+00:00"
                return value[:10] + "T" + value[11:] + "+00:00"
            return general(value)

        return process


def iso_text(column: Any) -> sa.Label[str]:
    """``column`` (a :class:`UTCDateTime`) selected as :class:`UTCIsoText`, under its own name:
    for ``select``s of columns whose rows are only dumped (``paginate(..., rows=True)``); the
    fast dumper (``app.fastdump``) passes the text through as an ISO ``DateTime`` field's value.
    """
    return sa.type_coerce(column, UTCIsoText()).label(column.key)


class TimestampMixin:
    """``created_at`` and ``updated_at`` maintained by the ORM."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


def rowcount(result: sa.Result[Any]) -> int:
    """The rows a DML statement matched: ``Session.execute`` is typed as returning a plain
    ``Result``, though for INSERT/UPDATE/DELETE it is a ``CursorResult``."""
    return cast(sa.CursorResult[Any], result).rowcount


def is_sqlite(engine: Engine | None = None) -> bool:
    """Whether the (default) engine is SQLite."""
    engine = engine or db.engine
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


# libpq connection parameters of every pooled PostgreSQL connection, unless the database URL
# sets them: TCP keepalives and a user timeout make a silently cut link fail a query within
# about ten seconds instead of blocking it for the kernel's ~15 minutes of retransmissions
# (idle) or two hours (keepalive defaults), so a partitioned runner learns of the partition.
PG_CONNECT_ARGS: dict[str, int] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,
}


def libpq_conninfo(url: str) -> str:
    """``url`` as a libpq connection URI: the SQLAlchemy driver suffix removed, the rest
    byte for byte (``?options=-c%20...`` and other libpq parameters pass through unchanged;
    SQLAlchemy's ``render_as_string`` would turn their ``%20`` into ``+``, which libpq refuses).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    base = scheme.split("+", 1)[0]
    return f"{'postgresql' if base in {'postgresql', 'postgres'} else base}://{rest}"


def engine_options(url: str, echo: bool) -> dict[str, Any]:
    """Engine options for ``url``: pre-ping and pool sizes for servers, timeouts for SQLite,
    and on PostgreSQL the :data:`PG_CONNECT_ARGS` that the URL does not set itself."""
    options: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        # No pre-ping: a SQLite connection is a file handle that no server can drop, and the
        # ping would be one more statement on every request's checkout.
        options["connect_args"] = {"timeout": 10, "check_same_thread": False}
    else:
        options.update(pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800)
        if url.startswith(("postgresql", "postgres")):
            given = set(sa.make_url(url).query)
            options["connect_args"] = {
                key: value for key, value in PG_CONNECT_ARGS.items() if key not in given
            }
    return options


def install_sqlite_pragmas(engine: Engine) -> None:
    """Turn on WAL, foreign keys and a busy timeout on every new SQLite connection."""
    if engine.dialect.name == "sqlite" and not sa.event.contains(
        engine, "connect", _sqlite_pragmas
    ):
        sa.event.listen(engine, "connect", _sqlite_pragmas)


# -- tables without a model ----------------------------------------------------------------------

UNMAPPED_TABLES_KEY = "junction_unmapped_tables"
# The tables SQLite's FTS5 creates beside a virtual table ``<name>``.
FTS5_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")


def declare_unmapped_tables(*names: str) -> None:
    """Declare tables a migration creates on purpose without a model (a full-text index whose
    shape differs per database, such as an FTS5 virtual table and its shadow tables), so that
    autogenerate comparisons (``migration_drift``, ``junction db`` revisions) leave them alone.
    """
    db.metadata.info.setdefault(UNMAPPED_TABLES_KEY, set()).update(names)


def is_unmapped_table(name: str | None) -> bool:
    """Whether ``name`` was declared with :func:`declare_unmapped_tables` (or is the shadow
    table of a declared FTS5 table)."""
    declared = db.metadata.info.get(UNMAPPED_TABLES_KEY, set())
    if not name:
        return False
    return name in declared or any(
        name == base + suffix for base in declared for suffix in FTS5_SHADOW_SUFFIXES
    )


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: compare every table but the declared unmapped ones."""
    return not (type_ == "table" and is_unmapped_table(name))
