"""Hints: regular expressions over build logs and the system packages that usually fix them.

Patterns are checked when written (:mod:`plugins.builds.regexguard`); when a failed build's log
(or a failed event's detail) arrives, the ids of the matching hints are recorded on the event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from app.db import db
from app.errors import NotFound, ValidationFailed
from plugins.builds.logstore import newest_log, text_of
from plugins.builds.models import BuildEvent, Hint
from plugins.builds.regexguard import UnsafePattern, check_pattern, search_lines

RECIPE_MANAGERS = ("dnf", "apt")
# Debian and RPM package names; RPM allows capitals (e.g. ``ImageMagick-devel``).
_PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}\Z")
# Only the end of a log is matched: the error that failed a build is near its end.
MATCH_TAIL_BYTES = 256 * 1024


def hint_dict(hint: Hint) -> dict[str, Any]:
    """The seed's Hint shape."""
    return {
        "id": hint.id,
        "pattern": hint.pattern,
        "recipes": {m: list((hint.recipes or {}).get(m, [])) for m in RECIPE_MANAGERS},
        "note": hint.note,
        "created_at": hint.created_at,
        "updated_at": hint.updated_at,
    }


def _checked(body: Mapping[str, Any]) -> dict[str, Any]:
    errors = []
    try:
        check_pattern(body["pattern"])
    except UnsafePattern as exc:
        errors.append({"field": "pattern", "message": str(exc), "code": "unsafe_pattern"})
    recipes = body.get("recipes") or {}
    for manager, names in recipes.items():
        for i, name in enumerate(names):
            if not _PACKAGE_RE.match(name):
                errors.append(
                    {
                        "field": f"recipes.{manager}[{i}]",
                        "message": f"{name[:80]!r} is not a {manager} package name.",
                        "code": "invalid",
                    }
                )
    if errors:
        raise ValidationFailed(
            "; ".join(e["message"] for e in errors), errors=errors, code="BUILDS_INVALID_HINT"
        )
    return {
        "pattern": body["pattern"],
        "recipes": {m: list(recipes.get(m, [])) for m in RECIPE_MANAGERS},
        "note": body.get("note"),
    }


def list_hints() -> list[dict[str, Any]]:
    """Every hint, oldest first."""
    return [hint_dict(h) for h in db.session.scalars(sa.select(Hint).order_by(Hint.id))]


def create_hint(body: Mapping[str, Any]) -> dict[str, Any]:
    """Store a hint whose pattern passed the checks."""
    hint = Hint(**_checked(body))
    db.session.add(hint)
    db.session.commit()
    return hint_dict(hint)


def _get(hint_id: int) -> Hint:
    hint = db.session.get(Hint, hint_id)
    if hint is None:
        raise NotFound(f"No hint {hint_id}.", code="BUILDS_HINT_NOT_FOUND")
    return hint


def update_hint(hint_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """Replace a hint's pattern, recipes and note."""
    hint = _get(hint_id)
    for key, value in _checked(body).items():
        setattr(hint, key, value)
    db.session.commit()
    return hint_dict(hint)


def delete_hint(hint_id: int) -> None:
    """Remove a hint (events keep the ids they matched)."""
    db.session.delete(_get(hint_id))
    db.session.commit()


def matching_ids(text: str) -> list[int]:
    """Ids of the hints whose pattern matches a line of ``text``'s tail."""
    tail = text[-MATCH_TAIL_BYTES:]
    found = []
    for hint in db.session.scalars(sa.select(Hint).order_by(Hint.id)):
        try:
            compiled = re.compile(hint.pattern)
        except re.error:  # stored before a stricter check: skip rather than fail the build
            continue
        if search_lines(compiled, tail):
            found.append(hint.id)
    return found


def match_event(event: BuildEvent, log_text: str | None = None) -> list[int]:
    """Record on a failed event the hints matching its detail and its version's log."""
    if log_text is None:
        stored = newest_log(event.name, event.version)
        log_text = text_of(stored) if stored is not None else ""
    ids = matching_ids("\n".join(filter(None, [event.detail, log_text])))
    if ids != list(event.matched_hint_ids or []):
        event.matched_hint_ids = ids
        db.session.commit()
    return ids
