"""Settings declarations (``junction_settings()``): parsing, value checks and secret masking."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.errors import JunctionError

TYPES = ("str", "int", "float", "bool", "list", "json")
SCOPES = ("global", "project", "both")
FIELD_ATTRIBUTES = frozenset(
    {"type", "default", "secret", "scope", "help", "choices", "min", "max", "bound_to"}
)
_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


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
