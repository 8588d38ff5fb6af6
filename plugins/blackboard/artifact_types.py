"""Artifact types: plugin types (marshmallow) and run-time types (JSON Schema); validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jsonschema
import marshmallow as ma
import sqlalchemy as sa
from jsonschema.validators import validator_for

from app.db import db
from app.errors import Conflict, NotFound, ValidationFailed, field_error, flatten_messages
from plugins.blackboard.models import ArtifactType
from plugins.blackboard.registry import registry

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_REQUIRED_RE = re.compile(r"^'(.+)' is a required property$")


@dataclass(frozen=True)
class TypeInfo:
    """A resolved type: where it comes from and how to validate its payloads."""

    name: str
    version: int
    source: str  # "plugin" | "runtime"
    schema: dict[str, Any] | None
    description: str
    marshmallow: type[ma.Schema] | None = None

    def public(self) -> dict[str, Any]:
        """The API view."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "schema": self.schema,
            "description": self.description,
        }


def _plugin_info(name: str) -> TypeInfo | None:
    spec = registry().types.get(name)
    if spec is None:
        return None
    return TypeInfo(
        spec.name, spec.version, "plugin", None, spec.description, marshmallow=spec.schema
    )


def _row_info(row: ArtifactType) -> TypeInfo:
    return TypeInfo(row.name, row.version, "runtime", row.schema, row.description or "")


def resolve(name: str, version: int | None = None, *, field: str = "type") -> TypeInfo:
    """The type ``name`` (its latest version unless ``version``), or a 422 naming ``field``."""
    info = _plugin_info(name)
    if info is not None and (version is None or version == info.version):
        return info
    query = sa.select(ArtifactType).where(ArtifactType.name == name)
    if version is not None:
        query = query.where(ArtifactType.version == version)
    row = db.session.scalar(query.order_by(ArtifactType.version.desc()).limit(1))
    if row is None:
        known = f" version {version}" if version is not None else ""
        raise ValidationFailed(
            f"Unknown artifact type {name!r}{known}; register it with POST "
            "/api/v1/artifact-types or list the known ones with GET /api/v1/artifact-types.",
            errors=[field_error(field, f"Unknown artifact type {name!r}{known}.", "unknown_type")],
        )
    return _row_info(row)


def get_type(name: str, version: int | None = None) -> TypeInfo:
    """Like :func:`resolve` but a 404 (for ``GET /artifact-types/{name}``)."""
    try:
        return resolve(name, version)
    except ValidationFailed:
        raise NotFound(f"No artifact type {name!r}.") from None


def validate_payload(info: TypeInfo, payload: Any) -> dict[str, Any]:
    """The payload as stored, or a 422 with one ``errors`` entry per bad field."""
    if not isinstance(payload, dict):
        raise ValidationFailed(
            "payload must be a JSON object.",
            errors=[field_error("payload", "Must be a JSON object.", "invalid_type")],
        )
    if info.marshmallow is not None:
        try:
            loaded = info.marshmallow().load(payload)
        except ma.ValidationError as exc:
            errors = flatten_messages(exc.messages, "payload")
            raise _invalid(info, errors) from None
        # Dump back to JSON types (dates...); keys the schema lets through (INCLUDE) stay.
        schema = info.marshmallow()
        stored = dict(schema.dump(loaded))
        for key, value in loaded.items():
            if key not in schema.fields:
                stored[key] = value
        return stored
    validator = _validator(info)
    errors = [_entry(error) for error in validator.iter_errors(payload)]
    if errors:
        raise _invalid(info, sorted(errors, key=lambda e: e["field"]))
    return payload


def _invalid(info: TypeInfo, errors: list[dict[str, str]]) -> ValidationFailed:
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return ValidationFailed(
        f"The payload is not a valid {info.name!r} (version {info.version}): {summary}",
        errors=errors,
    )


def _validator(info: TypeInfo) -> Any:
    cache = registry().validators
    key = (info.name, info.version)
    found = cache.get(key)
    if found is None:
        cls = validator_for(info.schema, default=jsonschema.Draft202012Validator)
        found = cache[key] = cls(info.schema)
    return found


def _entry(error: jsonschema.ValidationError) -> dict[str, str]:
    path = ["payload", *(str(part) for part in error.absolute_path)]
    code = str(error.validator)
    if error.validator == "required":
        match = _REQUIRED_RE.match(error.message)
        if match:
            path.append(match.group(1))
        code = "required"
    elif error.validator == "type":
        code = "invalid_type"
    return field_error(".".join(path), error.message, code)


def check_schema(schema: Any) -> None:
    """A 422 unless ``schema`` is a valid JSON Schema (of the dialect its ``$schema`` names)."""
    check_schema_at(schema, "schema")


def check_schema_at(schema: Any, where_field: str) -> None:
    """Like :func:`check_schema`, naming ``where_field`` in the errors."""
    if not isinstance(schema, dict):
        raise ValidationFailed(
            f"{where_field} must be a JSON Schema object.",
            errors=[field_error(where_field, "Must be a JSON object.", "invalid_type")],
        )
    try:
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    except Exception as exc:  # an unknown $schema dialect
        raise ValidationFailed(
            f"Unsupported $schema: {exc}",
            errors=[field_error(f"{where_field}.$schema", str(exc), "unsupported_dialect")],
        ) from None
    errors = []
    for error in cls(cls.META_SCHEMA).iter_errors(schema):
        where = ".".join([where_field, *(str(p) for p in error.absolute_path)])
        errors.append(field_error(where, error.message, "invalid_schema"))
    if errors:
        raise ValidationFailed(
            f"{where_field} is not a valid JSON Schema: " + errors[0]["message"],
            errors=errors[:20],
        )


def register_type(
    name: str, schema: dict[str, Any], version: int | None, description: str | None
) -> TypeInfo:
    """Register a run-time type (409 when the name belongs to a plugin or the version exists)."""
    if name in registry().types:
        raise Conflict(
            f"Artifact type {name!r} is contributed by a plugin; choose another name.",
            code="TYPE_EXISTS",
        )
    check_schema(schema)
    latest = db.session.scalar(
        sa.select(sa.func.max(ArtifactType.version)).where(ArtifactType.name == name)
    )
    if version is None:
        version = int(latest or 0) + 1
    elif latest is not None and version <= latest:
        raise Conflict(
            f"Artifact type {name!r} already has version {latest}; versions only grow.",
            code="TYPE_EXISTS",
        )
    row = ArtifactType(name=name, version=version, schema=schema, description=description)
    db.session.add(row)
    db.session.commit()  # a concurrent twin hits the unique constraint: the core answers 409
    return _row_info(row)


def list_types() -> list[TypeInfo]:
    """Every type: plugin types first, then each version of the run-time ones."""
    found = [_plugin_info(name) for name in sorted(registry().types)]
    rows = db.session.scalars(
        sa.select(ArtifactType).order_by(ArtifactType.name, ArtifactType.version)
    )
    return [info for info in found if info is not None] + [_row_info(row) for row in rows]
