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

import base64
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
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, db, utcnow
from app.errors import JunctionError, NotFound, ValidationFailed, field_error
from app.state import junction_state

__all__ = [
    "FieldSpec",
    "NamespaceSpec",
    "SecretUnreadable",
    "Setting",
    "get",
    "get_all",
    "init_app",
    "mask_secret",
    "parse_declaration",
    "public_view",
    "reencrypt_secrets",
    "secrets_check",
    "set_values",
]

log = logging.getLogger(__name__)

TYPES = ("str", "int", "float", "bool", "list", "json")
SCOPES = ("global", "project", "both")
FIELD_ATTRIBUTES = frozenset(
    {"type", "default", "secret", "scope", "help", "choices", "min", "max"}
)
_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}$")

# HKDF turns the operator's secret (any length, any alphabet) into a 32-byte Fernet key. The
# input is high-entropy key material, so a fixed, public salt is fine (RFC 5869 §3.1); ``info``
# separates this use from every other use of JUNCTION_SECRET_KEY (Flask sessions...).
_HKDF_SALT = b"junction.settings.v1"
_HKDF_INFO = b"junction settings encryption key"


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
    return spec


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


@dataclass
class _Crypto:
    """The app's Fernet instance (``None`` without ``JUNCTION_SECRET_KEY``)."""

    fernet: Fernet | None


def derive_fernet_key(secret: str) -> bytes:
    """The Fernet key (urlsafe base64 of 32 bytes) derived from ``secret`` with HKDF-SHA256."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


def _crypto() -> _Crypto:
    state = junction_state()
    if state.secrets is None:  # an app built without init_app (tools); derive on demand
        state.secrets = _make_crypto(current_app.config.get("JUNCTION_SECRET_KEY"))
    crypto: _Crypto = state.secrets
    return crypto


def _make_crypto(secret: str | None) -> _Crypto:
    return _Crypto(Fernet(derive_fernet_key(secret)) if secret else None)


def _encode(spec: FieldSpec, value: Any) -> tuple[str, bool]:
    """``(stored text, encrypted?)`` for ``value``."""
    text = json.dumps(value, separators=(",", ":"))
    fernet = _crypto().fernet
    if spec.secret and fernet is not None:
        return fernet.encrypt(text.encode("utf-8")).decode("ascii"), True
    return text, False


def _decode(row: Setting, project_label: str | None = None) -> Any:
    text = row.value
    if row.encrypted:
        fernet = _crypto().fernet
        where = f"{row.namespace}.{row.key}" + (
            f" of project {project_label!r}" if project_label else ""
        )
        if fernet is None:
            raise SecretUnreadable(
                f"Setting {where} is encrypted but JUNCTION_SECRET_KEY is not set. "
                "Configure the key it was stored with, or set the value again."
            )
        try:
            text = fernet.decrypt(text.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            raise SecretUnreadable(
                f"Setting {where} cannot be decrypted with the configured JUNCTION_SECRET_KEY "
                "(it was stored with another key). Restore that key, or set the value again."
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
    fernet = _crypto().fernet
    if fernet is None:
        return 0
    rows = db.session.scalars(
        sa.select(Setting).where(Setting.is_secret.is_(True), Setting.encrypted.is_(False))
    ).all()
    for row in rows:
        row.value = fernet.encrypt(row.value.encode("utf-8")).decode("ascii")
        row.encrypted = True
    db.session.commit()
    return len(rows)


# -- readiness ----------------------------------------------------------------------------------


def secrets_check() -> str:
    """Readiness detail about secrets at rest. It passes, but warns when secrets are readable.

    Warns (without failing) when no key is configured, when secrets were stored in clear
    before a key was set, and when stored secrets cannot be decrypted with the current key.
    """
    fernet = _crypto().fernet
    with db.engine.connect() as connection:
        try:
            rows = connection.execute(
                sa.select(Setting.namespace, Setting.key, Setting.value, Setting.encrypted).where(
                    Setting.is_secret.is_(True)
                )
            ).all()
        except sa.exc.DBAPIError:
            return "settings table not found; run 'flask --app wsgi junction db upgrade'"
    plain = [row for row in rows if not row.encrypted]
    if fernet is None:
        return (
            "WARNING: JUNCTION_SECRET_KEY is not set: secret settings are stored unencrypted "
            f"({len(plain)} stored)"
        )
    unreadable = sorted(
        {
            f"{row.namespace}.{row.key}"
            for row in rows
            if row.encrypted and not _readable(fernet, row.value)
        }
    )
    notes = ["secret settings encrypted at rest (Fernet)"]
    if unreadable:
        notes.append(
            f"WARNING: {len(unreadable)} secret setting(s) cannot be decrypted with the current "
            f"JUNCTION_SECRET_KEY ({', '.join(unreadable[:10])}); restore the key or set them again"
        )
    if plain:
        notes.append(
            f"WARNING: {len(plain)} secret setting(s) were stored before the key was set and "
            "are unencrypted; call app.settings.reencrypt_secrets()"
        )
    return "; ".join(notes)


def _readable(fernet: Fernet, token: str) -> bool:
    try:
        fernet.decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError):
        return False
    return True


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
    state.secrets = _make_crypto(app.config.get("JUNCTION_SECRET_KEY"))
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
