"""Reading settings: encryption at rest, the declared namespaces and the effective values
(project value → global value → ``junction.toml`` default → declared default)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import sqlalchemy as sa
from flask import Flask, current_app

from app.db import db
from app.errors import NotFound
from app.settings.declarations import FieldSpec, NamespaceSpec, SecretUnreadable, mask_secret
from app.settings.model import Setting
from app.settings_crypto import Crypto, InvalidToken, make_crypto
from app.state import junction_state


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
    return cast(dict[str, NamespaceSpec], current_app.extensions["junction"].settings_specs)


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
    scope: sa.ColumnElement[bool] = Setting.project_id.is_(None)
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
