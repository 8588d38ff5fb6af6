"""Writing settings: validation of a whole change before anything is stored, secrets bound to
their destination, masked echoes left unchanged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.db import db
from app.errors import ValidationFailed, field_error
from app.settings.declarations import (
    FieldSpec,
    NamespaceSpec,
    SecretUnreadable,
    _check_value,
    _coerce,
    mask_secret,
)
from app.settings.model import Setting
from app.settings.store import (
    _decode,
    _encode,
    _project_id,
    _resolve,
    _rows,
    namespace_spec,
    public_view,
)

log = logging.getLogger("app.settings")  # one logger for the package, as before the split


def set_values(namespace: str, values: Mapping[str, Any], project: Any = None) -> dict[str, Any]:
    """Validate and store ``values`` (global, or for ``project``); returns :func:`public_view`.

    Everything is checked before anything is written: an unknown key, a value of the wrong
    type or a key set at the wrong scope gives one :class:`ValidationFailed` naming every bad
    field. ``None`` removes the stored value (the fallback applies again). A secret sent back
    exactly as its masked form is left unchanged, so a form can round-trip the public view.
    Commits the session.
    """
    spec = namespace_spec(namespace)
    if not isinstance(values, Mapping):
        raise ValidationFailed(
            "Settings must be a JSON object.", errors=[field_error("", "Expected an object.")]
        )
    project_id, label = _project_id(project)
    errors = []
    for name, value in values.items():
        fspec = spec.fields.get(name)
        if fspec is None:
            errors.append(field_error(name, f"Unknown setting of {namespace!r}.", "unknown_field"))
            continue
        if project_id is not None and fspec.scope == "global":
            errors.append(
                field_error(name, "This setting is global; it cannot be set per project.", "scope")
            )
            continue
        if project_id is None and fspec.scope == "project":
            errors.append(
                field_error(name, "This setting is per project; give a project.", "scope")
            )
            continue
        if value is None:
            continue
        problem = _check_value(fspec, value)
        if problem:
            errors.append(field_error(name, problem.capitalize() + ".", "invalid_type"))
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(f"Invalid settings for {namespace!r}: {detail}", errors=errors)
    _require_rebound_secrets(spec, values, project_id, label)

    for attempt in range(2):
        try:
            _write(spec, values, project_id, label)
            break
        except IntegrityError:
            # A concurrent writer inserted the same (namespace, key, project) first; the second
            # pass finds its row and updates it.
            db.session.rollback()
            if attempt:
                raise
    log.info(
        "settings %s updated for %s: %s",
        namespace,
        f"project {label}" if label else "global scope",
        ", ".join(sorted(values)),  # names only, never values
    )
    return public_view(namespace, project_id)


def _require_rebound_secrets(
    spec: NamespaceSpec, values: Mapping[str, Any], project_id: int | None, label: str | None
) -> None:
    """Refuse (422 ``SECRET_REBIND_REQUIRED``) a change of where a stored secret is sent.

    A secret declared with ``bound_to`` is sent to the place its bound fields name (an API key
    to ``api_url``). Changing one of them while the secret stays would hand the secret to the
    new place, whoever chose it; so the change must carry the secret again (a new value, or
    ``None`` to remove it). Sending back the masked form does not count. A global change also
    moves the secrets of projects that keep their own secret but inherit the global
    destination: those are named, to be re-entered per project first.
    """
    rows = _rows(spec.namespace, project_id)
    errors = []
    for secret in spec.fields.values():
        moved = [
            name
            for name in secret.bound_to
            if name in values and _moves(spec, spec.fields[name], values[name], rows, project_id)
        ]
        if not moved:
            continue
        where = ", ".join(moved)
        if not _reentered(spec, secret, values, rows, project_id, label) and _stored_secret(
            spec, secret, rows, project_id, label
        ):
            errors.append(
                field_error(
                    secret.name,
                    f"Changing {where} changes where {secret.name} is sent: give {secret.name} "
                    "again in the same request (or null to remove it).",
                    "secret_rebind_required",
                )
            )
        if project_id is None:
            errors.extend(
                field_error(
                    secret.name,
                    f"Project {name!r} keeps its own {secret.name} but inherits {where}: set "
                    f"its {secret.name} again (or its own {where}) before changing {where}.",
                    "secret_rebind_required",
                )
                for name in _projects_inheriting(spec.namespace, secret.name, moved)
            )
    if errors:
        raise ValidationFailed(
            f"Settings of {spec.namespace!r}: " + " ".join(e["message"] for e in errors[:3]),
            code="SECRET_REBIND_REQUIRED",
            errors=errors,
        )


def _moves(
    spec: NamespaceSpec, fspec: FieldSpec, value: Any, rows: list[Any], project_id: int | None
) -> bool:
    """Whether writing ``value`` changes the effective value of ``fspec`` at this scope."""
    before = _resolve(spec, fspec, rows, project_id, None)
    if value is None:  # removal: the next fallback applies
        own = [r for r in rows if r.key != fspec.name or r.project_id != project_id]
        after = _resolve(spec, fspec, own, project_id, None)
    else:
        after = _coerce(fspec, value)
    return bool(after != before)


def _reentered(
    spec: NamespaceSpec,
    secret: FieldSpec,
    values: Mapping[str, Any],
    rows: list[Any],
    project_id: int | None,
    label: str | None,
) -> bool:
    if secret.name not in values:
        return False
    value = values[secret.name]
    if value is None:
        return True
    try:
        current = _resolve(spec, secret, rows, project_id, label)
    except SecretUnreadable:
        return True
    return not (current and value == mask_secret(current) and value != current)


def _stored_secret(
    spec: NamespaceSpec, secret: FieldSpec, rows: list[Any], project_id: int | None, label: Any
) -> bool:
    try:
        return bool(_resolve(spec, secret, rows, project_id, label))
    except SecretUnreadable:
        return True  # unreadable here, perhaps not with the key of the next deployment


def _projects_inheriting(namespace: str, secret: str, moved: list[str]) -> list[str]:
    """Projects with their own ``secret`` row but no own row of some field in ``moved``."""
    from app.domain.models import Project  # the core may use the shared domain

    own = sa.select(Setting.project_id).where(
        Setting.namespace == namespace, Setting.key == secret, Setting.project_id.is_not(None)
    )
    names = []
    for project_id, name in db.session.execute(
        sa.select(Project.id, Project.name).where(Project.id.in_(own))
    ):
        keys = set(
            db.session.scalars(
                sa.select(Setting.key).where(
                    Setting.namespace == namespace, Setting.project_id == project_id
                )
            )
        )
        if any(field not in keys for field in moved):
            names.append(name)
    return sorted(names)


def _write(
    spec: NamespaceSpec, values: Mapping[str, Any], project_id: int | None, label: str | None
) -> None:
    existing = {
        row.key: row
        for row in db.session.scalars(
            sa.select(Setting).where(
                Setting.namespace == spec.namespace,
                Setting.key.in_(list(values)),
                Setting.project_id.is_(None)
                if project_id is None
                else Setting.project_id == project_id,
            )
        )
    }
    for name, value in values.items():
        fspec = spec.fields[name]
        row = existing.get(name)
        if value is None:
            if row is not None:
                db.session.delete(row)
            continue
        if fspec.secret and row is not None and _is_masked_echo(row, value, label):
            continue
        text, encrypted = _encode(fspec, _coerce(fspec, value))
        if row is None:
            db.session.add(
                Setting(
                    namespace=spec.namespace,
                    key=name,
                    project_id=project_id,
                    value=text,
                    is_secret=fspec.secret,
                    encrypted=encrypted,
                )
            )
        else:
            row.value, row.is_secret, row.encrypted = text, fspec.secret, encrypted
    db.session.commit()


def _is_masked_echo(row: Setting, value: Any, label: str | None) -> bool:
    try:
        current = _decode(row, label)
    except SecretUnreadable:
        return False
    masked = mask_secret(current)
    return masked is not None and value == masked and value != current
