"""marshmallow fields shared by the API's schemas: aware UTC timestamps and integers that fit
the database's ``Integer`` columns."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma

# The largest value an ``Integer`` column holds on PostgreSQL (and a safe bound on SQLite):
# ids and offsets above it can match nothing, and passing them to the driver would raise.
DB_INT_MAX = 2**31 - 1

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
