"""Database: the Flask-SQLAlchemy extension, the typed model base, SQLite pragmas and helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any

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


db = SQLAlchemy(model_class=Base)


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


class TimestampMixin:
    """``created_at`` and ``updated_at`` maintained by the ORM."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


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


def engine_options(url: str, echo: bool) -> dict[str, Any]:
    """Engine options for ``url``: pre-ping and pool sizes for servers, timeouts for SQLite."""
    options: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        # No pre-ping: a SQLite connection is a file handle that no server can drop, and the
        # ping would be one more statement on every request's checkout.
        options["connect_args"] = {"timeout": 10, "check_same_thread": False}
    else:
        options.update(pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800)
    return options


def install_sqlite_pragmas(engine: Engine) -> None:
    """Turn on WAL, foreign keys and a busy timeout on every new SQLite connection."""
    if engine.dialect.name == "sqlite" and not sa.event.contains(
        engine, "connect", _sqlite_pragmas
    ):
        sa.event.listen(engine, "connect", _sqlite_pragmas)
