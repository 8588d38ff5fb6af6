"""The namespacing rule of plugins, as Indico enforces it: every name a plugin declares is its own.

A blueprint, table, operation kind, job id, owned event channel, settings namespace or console
panel of plugin ``p`` is ``p`` itself or starts with ``p_``, ``p.`` or ``p:`` (:func:`owns`).
:class:`~app.plugins.PluginRegistry` checks each declaration as it is made and fails the plugin
with the :class:`NamespaceError` naming the offender; the console checks its panels the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEPARATORS = ("_", ".", ":")

#: Channels of the core that plugins publish on too: the shared domain (a plugin that changes
#: projects or features announces it where every client of the domain already listens).
SHARED_CHANNELS = frozenset({"projects"})

#: Packages that are never a plugin's, whatever module a (test) plugin names.
CORE_PACKAGES = frozenset({"", "app", "plugins", "builtins"})


class NamespaceError(ValueError):
    """A plugin declared a name outside its namespace; the message names it."""


def owns(plugin: str, name: str) -> bool:
    """Whether ``name`` is in ``plugin``'s namespace: ``plugin`` itself, or ``plugin`` followed
    by ``_``, ``.`` or ``:`` and more (``planning``, ``planning_sync_state``,
    ``planning.import_cycle``, ``planning:webhooks``)."""
    return name == plugin or any(name.startswith(plugin + sep) for sep in SEPARATORS)


def check_name(plugin: str, what: str, name: Any) -> None:
    """Raise :class:`NamespaceError` unless ``name`` (a ``what``: ``"blueprint"``...) is in
    ``plugin``'s namespace."""
    if not isinstance(name, str) or not owns(plugin, name):
        allowed = ", ".join(f"'{plugin}{sep}'" for sep in SEPARATORS)
        raise NamespaceError(
            f"{what} {name!r} of plugin {plugin!r} must be named {plugin!r} or start with {allowed}"
        )


def declared_names(hook_name: str, result: Any) -> list[tuple[str, Any]]:
    """``[(what, name)]`` a hook's result declares, for the namespace check."""
    if hook_name == "junction_blueprints":
        return [("blueprint", getattr(bp, "name", None)) for bp in result]
    if hook_name == "junction_operations":
        return [("operation kind", kind) for kind in dict(result)]
    if hook_name == "junction_settings" and isinstance(result, dict | Mapping):
        return [("settings namespace", result.get("namespace"))]
    if hook_name == "junction_console_panels":
        # Routes are mounted under /console/<plugin>/ by construction (app.console.panels);
        # an explicit endpoint name must still be the plugin's.
        return [("console panel", name) for name in map(panel_name, result) if name]
    return []


def panel_name(panel: Any) -> str | None:
    """The explicit ``name`` a console panel declares (``None`` when it leaves the default)."""
    value = panel.get("name") if isinstance(panel, Mapping) else getattr(panel, "name", None)
    return value or None


def tables_of(package: str) -> list[str]:
    """Names of the tables mapped by model classes defined in ``package`` (or below it)."""
    from app.db import Model

    names: list[str] = []
    for mapper in Model.registry.mappers:
        module = mapper.class_.__module__
        if module == package or module.startswith(package + "."):
            names.extend(table.name for table in mapper.tables)
    return names


def plugin_packages(modules: Mapping[str, str]) -> dict[str, str]:
    """``{package: plugin name}`` from ``{plugin name: module}`` (an entry point's module, maybe
    with ``:attr``), without the core's own packages (which are never a plugin's, whatever
    module a test plugin names)."""
    packages = {}
    for name, module in modules.items():
        package = module.split(":", 1)[0]
        if package not in CORE_PACKAGES:
            packages[package] = name
    return packages


def owner_of_module(module: str, packages: Mapping[str, str]) -> str | None:
    """The plugin whose package (the longest match in ``packages``, as made by
    :func:`plugin_packages`) holds ``module``; ``None`` for everything else."""
    best = ""
    for package in packages:
        if len(package) > len(best) and (module == package or module.startswith(package + ".")):
            best = package
    return packages[best] if best else None
