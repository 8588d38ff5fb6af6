"""Plane failures as the seed's problems, and the check that keeps ids out of URL paths."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.errors import JunctionError, field_error
from app.http import HttpError


class PlaneError(JunctionError):
    """A Plane failure mapped onto the seed's error table (401, 404, 429, 502, 400)."""


class CycleCompleted(PlaneError):
    """Plane refuses changes to a cycle whose end date has passed."""

    status, code = 409, "CYCLE_COMPLETED"


class InvalidPlaneId(PlaneError):
    """An id that is not a Plane UUID: the seed's 400 for an invalid ``cycle_id``."""

    status, code = 400, "PLANNING_INVALID_ID"


class ModuleNameTaken(Exception):
    """Plane refused a module name that a module not created by us already carries.

    ``existing`` is that module (``None`` when Plane did not say which): never adopt it, never
    link work items into it.
    """

    def __init__(self, name: str, existing: Mapping[str, Any] | None) -> None:
        super().__init__(f"a module named {name!r} already exists in MQ Planning")
        self.name = name
        self.existing = existing


def to_problem(error: HttpError, what: str = "MQ Planning") -> PlaneError:
    """Map a Plane failure to the seed's status codes, with Plane's own message in ``detail``.

    Plane answers 403 for a *wrong* key ("Given API token is not valid"), which the seed
    reports as 401; a 403 for a foreign project is reported as 404 (not found for this key).
    """
    remote = error.remote_message or str(error)
    headers: dict[str, str] = {}
    if error.category == "auth" or (
        error.category == "permission" and "token" in (remote or "").lower()
    ):
        return PlaneError(
            f"MQ Planning rejected the API key: {remote}",
            status=401,
            code="PLANNING_AUTH",
            upstream_status=error.status,
        )
    if error.category in {"permission", "not_found"}:
        return PlaneError(
            f"{what} not found in MQ Planning (or the API key has no access): {remote}",
            status=404,
            code="PLANNING_NOT_FOUND",
            upstream_status=error.status,
        )
    if error.category == "rate_limited":
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(error.retry_after + 0.999)))
        return PlaneError(
            f"MQ Planning rate limit reached; retry later. {remote}",
            status=429,
            code="PLANNING_RATE_LIMITED",
            retryable=True,
            headers=headers,
        )
    if error.category in {"validation", "conflict"}:
        return PlaneError(
            f"MQ Planning refused the request: {remote}",
            status=400,
            code="PLANNING_VALIDATION",
            upstream_status=error.status,
        )
    return PlaneError(
        f"MQ Planning is unreachable or failing: {remote}",
        status=502,
        code="PLANNING_UNAVAILABLE",
        retryable=True,
        upstream_status=error.status,
    )


def plane_id(value: Any, field: str = "cycle_id") -> str:
    """``value`` when it is a Plane UUID, else the seed's 400 (invalid ``cycle_id``).

    Plane's ids are UUIDs and go into URL paths: a value with ``/``, ``..`` or ``?`` would
    reach another Plane endpoint (``../../users/me``) or answer "success" from the wrong one.
    """
    text = str(value or "")
    if not _UUID.fullmatch(text):
        raise InvalidPlaneId(
            f"{field} must be a Plane UUID such as 550e8400-e29b-41d4-a716-446655440000.",
            errors=[field_error(field, "Not a Plane UUID.", "invalid")],
        )
    return text


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
