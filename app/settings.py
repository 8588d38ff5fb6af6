"""Settings stored in the database, declared by plugins, scoped globally or per project.

Each plugin declares its settings with the ``junction_settings()`` hook::

    {"namespace": "planning",
     "fields": {"base_url": {"type": "str", "default": "", "scope": "global", "help": "..."},
                "api_key": {"type": "str", "secret": True, "scope": "both", "help": "..."}}}

A value is looked up in this order: the project's value (for a project-scoped read), the global
value, the ``[<namespace>]`` table of ``instance/junction.toml``, the declared default. Secret
values are encrypted at rest with Fernet when ``JUNCTION_SECRET_KEY`` is set; they are never
returned by :func:`public_view` (a masked form and a ``<key>_set`` flag instead) and never
logged. See ``docs/settings.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, db, utcnow
from app.errors import JunctionError, NotFound, ValidationFailed, field_error
from app.settings_crypto import Crypto, InvalidToken, derive_fernet_key, make_crypto
from app.state import junction_state

__all__ = [
    "FieldSpec",
    "NamespaceSpec",
    "SecretUnreadable",
    "Setting",
    "derive_fernet_key",
    "get",
    "get_all",
    "init_app",
    "mask_secret",
    "parse_declaration",
    "public_view",
    "reencrypt_secrets",
    "rotate_secrets",
    "secrets_check",
    "set_values",
]

log = logging.getLogger(__name__)

TYPES = ("str", "int", "float", "bool", "list", "json")
SCOPES = ("global", "project", "both")
FIELD_ATTRIBUTES = frozenset(
    {"type", "default", "secret", "scope", "help", "choices", "min", "max", "bound_to"}
)
_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


# -- model --------------------------------------------------------------------------------------


class Setting(db.Model):
    """One stored value: global when ``project_id`` is NULL, else for that project.

    ``project_id`` references ``projects.id`` with ``ON DELETE CASCADE``: a project's values go
    with the project (even when it is deleted by plain SQL), and an id survives a rename.
    ``value`` holds JSON text, or for an encrypted secret the Fernet token of that JSON text.
    """

    __tablename__ = "settings"
    __table_args__ = (
        sa.UniqueConstraint(
            "namespace", "key", "project_id", name="uq_settings_namespace_key_project"
        ),
        # NULLs are distinct in a unique constraint (SQLite, PostgreSQL < 15), so global values
        # need their own partial unique index to stay one per (namespace, key).
        sa.Index(
            "uq_settings_namespace_key_global",
            "namespace",
            "key",
            unique=True,
            sqlite_where=sa.text("project_id IS NULL"),
            postgresql_where=sa.text("project_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    project_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    value: Mapped[str] = mapped_column(sa.Text, nullable=False)
    is_secret: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    encrypted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )


# -- declarations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One declared setting."""

    name: str
    type: str = "str"
    default: Any = None
    secret: bool = False
    scope: str = "both"
    help: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    # For a secret: the fields that say where it is sent (``("api_url",)``). Changing one of
    # them without giving the secret again is refused (see :func:`set_values`).
    bound_to: tuple[str, ...] = ()


@dataclass
class NamespaceSpec:
    """The settings a plugin declared under one namespace."""

    namespace: str
    plugin: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    # Operator defaults from instance/junction.toml, already validated.
    file_defaults: dict[str, Any] = field(default_factory=dict)


class SecretUnreadable(JunctionError):
    """A stored secret cannot be decrypted with the configured ``JUNCTION_SECRET_KEY``."""

    status, code, retryable = 500, "SECRET_UNREADABLE", False


def parse_declaration(declaration: Mapping[str, Any], plugin: str = "core") -> NamespaceSpec:
    """Validate one ``junction_settings()`` declaration; ``ValueError`` names what is wrong."""
    if not isinstance(declaration, Mapping):
        raise ValueError("a settings declaration must be a mapping {namespace, fields}")
    namespace = declaration.get("namespace")
    if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
        raise ValueError(f"settings namespace {namespace!r} must match {_NAMESPACE_RE.pattern}")
    unknown = set(declaration) - {"namespace", "fields"}
    if unknown:
        raise ValueError(f"settings {namespace}: unknown declaration keys {sorted(unknown)}")
    raw_fields = declaration.get("fields") or {}
    if not isinstance(raw_fields, Mapping):
        raise ValueError(f"settings {namespace}: 'fields' must be a mapping")
    spec = NamespaceSpec(namespace=namespace, plugin=plugin)
    for name, raw in raw_fields.items():
        spec.fields[name] = _parse_field(namespace, name, raw)
    for fspec in spec.fields.values():
        _check_binding(spec, fspec)
    return spec


def _check_binding(spec: NamespaceSpec, fspec: FieldSpec) -> None:
    where = f"settings {spec.namespace}.{fspec.name}: bound_to"
    if fspec.bound_to and not fspec.secret:
        raise ValueError(f"{where}: only secret fields are bound to a destination")
    for name in fspec.bound_to:
        target = spec.fields.get(name)
        if target is None or target.secret:
            raise ValueError(f"{where}: {name!r} is not a declared non-secret field")
        if target.scope != fspec.scope:
            # Same scope, so a secret and its destination are always set (and fall back) together.
            raise ValueError(f"{where}: {name!r} must have the secret's scope ({fspec.scope})")


def _parse_field(namespace: str, name: Any, raw: Any) -> FieldSpec:
    where = f"settings {namespace}.{name}"
    if not isinstance(name, str) or not _FIELD_RE.match(name):
        raise ValueError(f"{where}: field names must match {_FIELD_RE.pattern}")
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: a field is a mapping {{type, default, secret, scope, help}}")
    unknown = set(raw) - FIELD_ATTRIBUTES
    if unknown:
        raise ValueError(f"{where}: unknown attributes {sorted(unknown)}")
    kind = raw.get("type", "str")
    if kind not in TYPES:
        raise ValueError(f"{where}: type {kind!r} is not one of {', '.join(TYPES)}")
    scope = raw.get("scope", "both")
    if scope not in SCOPES:
        raise ValueError(f"{where}: scope {scope!r} is not one of {', '.join(SCOPES)}")
    secret = bool(raw.get("secret", False))
    if secret and kind != "str":
        raise ValueError(f"{where}: secret fields must have type 'str'")
    bound_to = raw.get("bound_to") or ()
    if isinstance(bound_to, str) or not all(isinstance(item, str) for item in bound_to):
        raise ValueError(f"{where}: bound_to must be a list of field names")
    choices = raw.get("choices")
    spec = FieldSpec(
        name=name,
        type=kind,
        default=None,
        secret=secret,
        scope=scope,
        help=str(raw.get("help", "")),
        choices=tuple(choices) if choices is not None else None,
        min=raw.get("min"),
        max=raw.get("max"),
        bound_to=tuple(bound_to),
    )
    default = raw.get("default")
    if default is not None:
        problem = _check_value(spec, default)
        if problem:
            raise ValueError(f"{where}: default: {problem}")
        default = _coerce(spec, default)
    return FieldSpec(**{**spec.__dict__, "default": default})


# -- value checks -------------------------------------------------------------------------------


def _check_value(spec: FieldSpec, value: Any) -> str | None:
    """Why ``value`` does not fit ``spec`` (never quoting the value: it may be a secret)."""
    kind = spec.type
    if kind == "str" and not isinstance(value, str):
        return f"expected a string, got {_type_name(value)}"
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected an integer, got {_type_name(value)}"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"expected a number, got {_type_name(value)}"
    if kind == "bool" and not isinstance(value, bool):
        return f"expected true or false, got {_type_name(value)}"
    if kind == "list" and (
        not isinstance(value, list) or not all(isinstance(item, str) for item in value)
    ):
        return "expected a list of strings"
    if kind == "json":
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            return "expected a JSON value"
    if spec.choices is not None and value not in spec.choices:
        return "expected one of " + ", ".join(map(str, spec.choices))
    if kind in {"int", "float"}:
        if spec.min is not None and value < spec.min:
            return f"must be at least {spec.min}"
        if spec.max is not None and value > spec.max:
            return f"must be at most {spec.max}"
    return None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}.get(
        type(value), "object" if isinstance(value, dict) else type(value).__name__
    )


def _coerce(spec: FieldSpec, value: Any) -> Any:
    return float(value) if spec.type == "float" else value


def mask_secret(value: str | None) -> str | None:
    """The masked form of a secret: at least 12 characters of it always stay hidden.

    24 characters or more: first 8, ``****``, last 4 (``sk_live_****wxyz``); 16 to 23: ``****``
    and the last 4; shorter: ``****`` alone. ``None`` or empty gives ``None``.
    """
    if not value:
        return None
    if len(value) >= 24:
        return f"{value[:8]}****{value[-4:]}"
    if len(value) >= 16:
        return f"****{value[-4:]}"
    return "****"


# -- encryption ---------------------------------------------------------------------------------


def _crypto() -> Crypto:
    state = junction_state()
    if state.secrets is None:  # an app built without init_app (tools); derive on demand
        state.secrets = _make_crypto(current_app)
    crypto: Crypto = state.secrets
    return crypto


def _make_crypto(app: Flask) -> Crypto:
    return make_crypto(
        app.config.get("JUNCTION_SECRET_KEY"), app.config.get("JUNCTION_SECRET_KEY_FALLBACKS") or ()
    )


def _encode(spec: FieldSpec, value: Any) -> tuple[str, bool]:
    """``(stored text, encrypted?)`` for ``value``."""
    text = json.dumps(value, separators=(",", ":"))
    crypto = _crypto()
    if spec.secret and crypto.current is not None:
        return crypto.encrypt(text), True
    return text, False


def _decode(row: Setting, project_label: str | None = None) -> Any:
    text = row.value
    if row.encrypted:
        crypto = _crypto()
        where = f"{row.namespace}.{row.key}" + (
            f" of project {project_label!r}" if project_label else ""
        )
        if crypto.current is None:
            raise SecretUnreadable(
                f"Setting {where} is encrypted but JUNCTION_SECRET_KEY is not set. "
                "Configure the key it was stored with, or set the value again."
            )
        try:
            text = crypto.decrypt(text)
        except InvalidToken:
            raise SecretUnreadable(
                f"Setting {where} cannot be decrypted with JUNCTION_SECRET_KEY or any of "
                "JUNCTION_SECRET_KEY_FALLBACKS (it was stored with another key). Add that key "
                "to JUNCTION_SECRET_KEY_FALLBACKS, or set the value again."
            ) from None
    return json.loads(text)


# -- lookups ------------------------------------------------------------------------------------


def specs() -> dict[str, NamespaceSpec]:
    """Every declared namespace of the current app."""
    return current_app.extensions["junction"].settings_specs


def namespace_spec(namespace: str) -> NamespaceSpec:
    """The declaration of ``namespace`` or :class:`NotFound`."""
    spec = specs().get(namespace)
    if spec is None:
        raise NotFound(
            f"No settings namespace {namespace!r} is declared (is its plugin enabled?).",
            code="UNKNOWN_SETTINGS_NAMESPACE",
        )
    return spec


def _field(spec: NamespaceSpec, key: str) -> FieldSpec:
    found = spec.fields.get(key)
    if found is None:
        raise NotFound(
            f"Settings namespace {spec.namespace!r} declares no key {key!r}.",
            code="UNKNOWN_SETTING",
        )
    return found


def _project_id(project: Any) -> tuple[int | None, str | None]:
    """``(id, label)`` of ``project`` given by name, id or instance; ``NotFound`` if unknown."""
    if project is None:
        return None, None
    from app.domain.models import Project  # the core may use the shared domain

    if isinstance(project, Project):
        return project.id, project.name
    if isinstance(project, int) and not isinstance(project, bool):
        name = db.session.scalar(sa.select(Project.name).where(Project.id == project))
        if name is None:
            raise NotFound(f"No project with id {project}.")
        return project, name
    if isinstance(project, str):
        pid = db.session.scalar(sa.select(Project.id).where(Project.name == project))
        if pid is None:
            raise NotFound(f"No project named {project!r}. Register it with POST /api/projects.")
        return pid, project
    raise TypeError("project must be a project name, id or Project")


def _rows(namespace: str, project_id: int | None, keys: Iterable[str] | None = None) -> list[Any]:
    scope = Setting.project_id.is_(None)
    if project_id is not None:
        scope = sa.or_(scope, Setting.project_id == project_id)
    query = sa.select(Setting).where(Setting.namespace == namespace, scope)
    if keys is not None:
        query = query.where(Setting.key.in_(list(keys)))
    return list(db.session.scalars(query))


def _resolve(
    spec: NamespaceSpec,
    fspec: FieldSpec,
    rows: list[Setting],
    project_id: int | None,
    label: str | None,
) -> Any:
    """Project value → global value → junction.toml default → declared default."""
    by_scope = {row.project_id: row for row in rows if row.key == fspec.name}
    if project_id is not None and fspec.scope != "global" and project_id in by_scope:
        return _decode(by_scope[project_id], label)
    if None in by_scope and fspec.scope != "project":
        return _decode(by_scope[None])
    if fspec.name in spec.file_defaults:
        return spec.file_defaults[fspec.name]
    return fspec.default


def get(namespace: str, key: str, project: Any = None) -> Any:
    """The effective value of ``namespace.key`` (for ``project`` when given, by name or id).

    Falls back from the project's value to the global one, then the default. Secrets come back
    in clear: this is for server-side use only; never put the result in a response or a log.
    """
    spec = namespace_spec(namespace)
    fspec = _field(spec, key)
    project_id, label = _project_id(project)
    return _resolve(spec, fspec, _rows(namespace, project_id, [key]), project_id, label)


def get_all(namespace: str, project: Any = None) -> dict[str, Any]:
    """Every effective value of ``namespace`` in clear (server-side use only)."""
    spec = namespace_spec(namespace)
    project_id, label = _project_id(project)
    rows = _rows(namespace, project_id)
    return {
        name: _resolve(spec, fspec, rows, project_id, label) for name, fspec in spec.fields.items()
    }


def public_view(namespace: str, project: Any = None) -> dict[str, Any]:
    """What a config endpoint may return: secrets replaced by ``<key>_set`` and ``<key>_masked``.

    A secret that cannot be decrypted still shows ``<key>_set: true`` (with ``_masked: null``),
    so a view never fails because of one bad value; :func:`get` raises for it instead.
    """
    spec = namespace_spec(namespace)
    project_id, label = _project_id(project)
    rows = _rows(namespace, project_id)
    view: dict[str, Any] = {}
    for name, fspec in spec.fields.items():
        if not fspec.secret:
            view[name] = _resolve(spec, fspec, rows, project_id, label)
            continue
        try:
            value = _resolve(spec, fspec, rows, project_id, label)
        except SecretUnreadable:
            view[f"{name}_set"], view[f"{name}_masked"] = True, None
            continue
        view[f"{name}_set"] = bool(value)
        view[f"{name}_masked"] = mask_secret(value)
    return view


def describe(namespace: str) -> list[dict[str, Any]]:
    """The declared fields of ``namespace`` (for help pages and config forms; no values)."""
    spec = namespace_spec(namespace)
    return [
        {
            "key": f.name,
            "type": f.type,
            "secret": f.secret,
            "scope": f.scope,
            "help": f.help,
            "default": None if f.secret else spec.file_defaults.get(f.name, f.default),
            "choices": list(f.choices) if f.choices is not None else None,
            "bound_to": list(f.bound_to),
        }
        for f in spec.fields.values()
    ]


# -- writes -------------------------------------------------------------------------------------


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


def reencrypt_secrets() -> int:
    """Encrypt every secret stored in clear (after ``JUNCTION_SECRET_KEY`` was configured).

    Returns how many values were encrypted; 0 without a key. Commits the session.
    """
    return rotate_secrets()["encrypted"] if _crypto().current is not None else 0


def rotate_secrets() -> dict[str, Any]:
    """Re-encrypt every stored secret with the current ``JUNCTION_SECRET_KEY``.

    Secrets under a key of ``JUNCTION_SECRET_KEY_FALLBACKS`` are re-encrypted (``rotated``),
    secrets stored in clear are encrypted (``encrypted``); ``unreadable`` names those no
    configured key decrypts (they are left as they are). :class:`JunctionError` (409) without a
    key. Commits the session; ``junction secrets rotate`` calls this.
    """
    crypto = _crypto()
    if crypto.current is None:
        raise JunctionError(
            "JUNCTION_SECRET_KEY is not set: there is no key to encrypt secrets with.",
            status=409,
            code="SECRET_KEY_MISSING",
        )
    rows = db.session.scalars(sa.select(Setting).where(Setting.is_secret.is_(True))).all()
    counts: dict[str, Any] = {"rotated": 0, "encrypted": 0, "current": 0, "unreadable": []}
    for row in rows:
        if not row.encrypted:
            row.value, row.encrypted = crypto.encrypt(row.value), True
            counts["encrypted"] += 1
            continue
        key = crypto.key_of(row.value)
        if key == "current":
            counts["current"] += 1
        elif key == "fallback":
            row.value = crypto.rotate(row.value)
            counts["rotated"] += 1
        else:
            counts["unreadable"].append(_row_name(row))
    db.session.commit()
    crypto.audit.clear()
    counts["unreadable"] = sorted(set(counts["unreadable"]))
    log.info(
        "secrets rotated: %d re-encrypted, %d encrypted, %d unreadable",
        counts["rotated"],
        counts["encrypted"],
        len(counts["unreadable"]),
    )
    return counts


def _row_name(row: Any) -> str:
    return f"{row.namespace}.{row.key}" + (f"@{row.project_id}" if row.project_id else "")


# -- readiness ----------------------------------------------------------------------------------


def secrets_check() -> str:
    """Readiness detail about secrets at rest. It passes, but warns when secrets are readable.

    Warns (without failing) when no key is configured, when secrets were stored in clear
    before a key was set, when some still use a fallback key, and when some cannot be
    decrypted with any key. Probes come every few seconds: the secrets are decrypted only when
    the table changed since the last probe (count, newest change), never on every call.
    """
    crypto = _crypto()
    fingerprint_query = sa.select(
        sa.func.count(), sa.func.max(Setting.updated_at), sa.func.max(Setting.id)
    ).where(Setting.is_secret.is_(True))
    with db.engine.connect() as connection:
        try:
            fingerprint = tuple(connection.execute(fingerprint_query).one())
            with crypto.lock:
                cached = crypto.audit.get("result")
                if cached is not None and crypto.audit.get("fingerprint") == fingerprint:
                    return cached
            rows = connection.execute(
                sa.select(
                    Setting.namespace,
                    Setting.key,
                    Setting.project_id,
                    Setting.value,
                    Setting.encrypted,
                ).where(Setting.is_secret.is_(True))
            ).all()
        except sa.exc.DBAPIError:
            return "settings table not found; run 'junction db upgrade'"
    result = _audit(crypto, rows)
    with crypto.lock:
        crypto.audit.update(fingerprint=fingerprint, result=result)
    return result


def _audit(crypto: Crypto, rows: list[Any]) -> str:
    plain = [row for row in rows if not row.encrypted]
    if crypto.current is None:
        return (
            "WARNING: JUNCTION_SECRET_KEY is not set: secret settings are stored unencrypted "
            f"({len(plain)} stored)"
        )
    keys = {_row_name(row): crypto.key_of(row.value) for row in rows if row.encrypted}
    unreadable = sorted({name.split("@")[0] for name, key in keys.items() if key == "unreadable"})
    old = sum(1 for key in keys.values() if key == "fallback")
    notes = ["secret settings encrypted at rest (Fernet)"]
    if unreadable:
        notes.append(
            f"WARNING: {len(unreadable)} secret setting(s) cannot be decrypted with "
            f"JUNCTION_SECRET_KEY or its fallbacks ({', '.join(unreadable[:10])}); add the key "
            "they were stored with to JUNCTION_SECRET_KEY_FALLBACKS or set them again"
        )
    if old:
        notes.append(
            f"WARNING: {old} secret setting(s) still use a key of JUNCTION_SECRET_KEY_FALLBACKS; "
            "run 'junction secrets rotate'"
        )
    if plain:
        notes.append(
            f"WARNING: {len(plain)} secret setting(s) were stored before the key was set and "
            "are unencrypted; run 'junction secrets rotate'"
        )
    return "; ".join(notes)


# -- start-up -----------------------------------------------------------------------------------


def _file_tables(instance_path: Path) -> dict[str, Any]:
    """The tables of ``junction.toml``: ``[<ns>]`` or ``[junction.<ns>]`` hold setting defaults."""
    path = instance_path / "junction.toml"
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))  # config.py already rejected bad TOML
    tables = {k: v for k, v in data.items() if isinstance(v, dict) and k != "junction"}
    section = data.get("junction")
    if isinstance(section, dict):
        tables.update({k: v for k, v in section.items() if isinstance(v, dict)})
    return tables


def _apply_file_defaults(spec: NamespaceSpec, table: Mapping[str, Any], source: str) -> None:
    for name, value in table.items():
        fspec = spec.fields.get(name)
        if fspec is None:
            raise ValueError(f"{source}: [{spec.namespace}] has unknown setting {name!r}")
        problem = _check_value(fspec, value)
        if problem:
            raise ValueError(f"{source}: [{spec.namespace}] {name}: {problem}")
        spec.file_defaults[name] = _coerce(fspec, value)


def register(app: Flask, declaration: Mapping[str, Any], plugin: str = "core") -> NamespaceSpec:
    """Declare a namespace outside the hook (core modules, embedding); ``ValueError`` if taken."""
    state = app.extensions["junction"]
    spec = parse_declaration(declaration, plugin)
    other = state.settings_specs.get(spec.namespace)
    if other is not None:
        raise ValueError(
            f"settings namespace {spec.namespace!r} is already declared by plugin {other.plugin!r}"
        )
    table = _file_tables(state.instance_path).get(spec.namespace)
    if table:
        _apply_file_defaults(spec, table, str(state.instance_path / "junction.toml"))
    state.settings_specs[spec.namespace] = spec
    return spec


def init_app(app: Flask) -> None:
    """Collect every plugin's ``junction_settings()``, set up encryption, add the readiness check.

    A plugin whose declaration is invalid (or whose junction.toml defaults are) is marked failed
    with the reason; the rest of Junction starts.
    """
    state = app.extensions["junction"]
    state.secrets = _make_crypto(app)
    for plugin, result in state.registry.call_each("junction_settings"):
        declarations = [result] if isinstance(result, Mapping) else list(result)
        try:
            for declaration in declarations:
                register(app, declaration, plugin)
        except (TypeError, ValueError) as exc:
            # All or nothing: a failed plugin keeps none of its namespaces.
            for name in [n for n, s in state.settings_specs.items() if s.plugin == plugin]:
                del state.settings_specs[name]
            state.registry.mark_failed(plugin, exc, "declaring settings")
    state.core_checks["secrets"] = secrets_check
