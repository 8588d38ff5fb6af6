"""Package names (PEP 503) and versions (PEP 440) as the builds plugin stores them."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from app.errors import ValidationFailed

# PEP 508's name grammar: letters, digits, and . _ - inside (never at either end).
_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE)
_SEPARATORS = re.compile(r"[-_.]+")
# Wheel tags: lowercase words joined by _ and . (cp312, manylinux_2_17_s390x, py3.none.any).
TAG_RE = re.compile(r"^[A-Za-z0-9_.]{1,128}\Z")

FAILED_STATUSES = ("failed", "timeout")
STATUSES = ("queued", "building", "built", "reused", "skipped", *FAILED_STATUSES)


def normalize_name(name: str, field: str = "name") -> str:
    """The PEP 503 normal form of ``name`` (``Foo.Bar_baz`` → ``foo-bar-baz``); 422 if invalid."""
    if not isinstance(name, str) or len(name) > 200 or not _NAME_RE.match(name):
        raise ValidationFailed(
            f"{field} must be a Python package name (letters, digits, '.', '_', '-').",
            errors=[{"field": field, "message": "Not a valid package name.", "code": "invalid"}],
        )
    return _SEPARATORS.sub("-", name).lower()


def normalize_version(version: str, field: str = "version") -> str:
    """The PEP 440 normal form of ``version`` (``1.0.0-RC1`` → ``1.0.0rc1``); 422 if invalid."""
    try:
        if not isinstance(version, str) or len(version) > 100:
            raise InvalidVersion(version)
        return str(Version(version))
    except InvalidVersion:
        raise ValidationFailed(
            f"{field} must be a PEP 440 version such as 1.2.3, 2.0rc1 or 1.0.post1.",
            errors=[{"field": field, "message": "Not a PEP 440 version.", "code": "invalid"}],
        ) from None
