"""Parsing the servers' timing headers: ``Retry-After``, ``X-RateLimit-Reset`` and ``Date``."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def http_date(value: str) -> float | None:
    """An HTTP date as epoch seconds, or ``None`` when it does not parse."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta seconds or an HTTP date.

    ``now`` is the epoch time the date is relative to (the response's ``Date`` when known).
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    moment = http_date(value)
    return None if moment is None else max(0.0, moment - now)


def parse_reset(value: str | None, now: float) -> float | None:
    """Seconds until an ``X-RateLimit-Reset``: epoch seconds (Plane), epoch milliseconds,
    delta seconds (small numbers), ISO-8601 (Jira) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number > 1e12:
            return max(0.0, number / 1000 - now)
        if number > 1e9:
            return max(0.0, number - now)
        return max(0.0, number)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        stamp = http_date(value)
        return None if stamp is None else max(0.0, stamp - now)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)
