"""Start-up: collect every plugin's declarations, apply ``junction.toml`` defaults, set up
encryption and the readiness check."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from app.settings.declarations import NamespaceSpec, _check_value, _coerce, parse_declaration
from app.settings.rotation import secrets_check
from app.settings.store import _make_crypto


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
