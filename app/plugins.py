"""Plugin discovery, registration and failure isolation.

Plugins are found through the entry-point group ``junction.plugins`` (the built-in ones too).
Each is loaded and registered on its own; one that fails to import, to register or in any of its
hooks is marked ``failed`` with the error, unregistered, and the application carries on without
it — the approach Airflow takes with its plugin manager. :class:`PluginRegistry` is what
``GET /api/plugins`` and ``flask junction plugins`` show.

Names are namespaced and the rule is enforced as the names are declared, as Indico does: a
blueprint, table, operation kind, settings namespace or console panel of plugin ``p`` is ``p``
or starts with ``p_``, ``p.`` or ``p:`` (:mod:`app.namespaces`); a plugin that breaks it is
failed naming the offender.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy
from flask import Response, current_app, request

from app import hookspecs
from app.errors import problem
from app.namespaces import (
    NamespaceError,
    check_name,
    declared_names,
    plugin_packages,
    tables_of,
)

ENTRY_POINT_GROUP = "junction.plugins"
NAMESPACE_STAGE = "namespace"

log = logging.getLogger(__name__)


def package_of(plugin: Any) -> str | None:
    """The module (package) a plugin's code lives in, when the plugin is a module."""
    return plugin.__name__ if isinstance(plugin, ModuleType) else None


def _returning(plugin: object) -> Callable[[], object]:
    """A loader that returns an already imported plugin (bound now, not at call time)."""
    return lambda: plugin


@dataclass
class PluginInfo:
    """What the registry knows of one plugin: identity, hooks, status and the last error."""

    name: str
    module: str
    version: str | None = None
    distribution: str | None = None
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    plugin: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The public, JSON-ready view of this plugin."""
        return {
            "name": self.name,
            "module": self.module,
            "version": self.version,
            "distribution": self.distribution,
            "status": self.status,
            "error": self.error,
            "hooks": sorted(self.hooks),
        }


class PluginRegistry:
    """Owns the pluggy manager and the status of every discovered plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        # Blueprint name -> plugin that returned it, so requests to a plugin that failed after
        # its routes were registered (e.g. in junction_startup) can be refused.
        self.blueprint_owners: dict[str, str] = {}
        # Package -> plugin name of every discovered plugin (namespaces.plugin_packages), made
        # once per discovery: every publish asks which plugin its caller's module belongs to.
        self.packages: dict[str, str] = {}
        # Whether any plugin has failed: every request asks, almost always of a registry where
        # none has (see reject_failed_plugin_requests).
        self.any_failed = False

    # -- discovery --------------------------------------------------------------------------
    def discover(
        self,
        enabled: list[str] | None,
        disabled: Iterable[str],
        extra: Iterable[tuple[str, Any]] = (),
    ) -> None:
        """Load every entry point of the group (plus ``extra`` ``(name, plugin)`` pairs).

        ``enabled`` limits loading to those names (``None``: all); ``disabled`` always wins.
        """
        disabled = set(disabled)
        candidates: list[tuple[str, Callable[[], Any], str, str | None, str | None]] = []
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            candidates.append(
                (
                    ep.name,
                    ep.load,
                    ep.value,
                    dist.version if dist else None,
                    dist.metadata["Name"] if dist else None,
                )
            )
        for name, plugin in extra:
            candidates.append(
                (name, _returning(plugin), getattr(plugin, "__name__", name), None, None)
            )

        for name, load, module_name, version, dist_name in candidates:
            info = PluginInfo(
                name=name, module=module_name, version=version, distribution=dist_name
            )
            if name in self.infos:
                info.status, info.error = "failed", f"duplicate plugin name {name!r}"
                log.error("plugin %s: %s", name, info.error)
                continue
            self.infos[name] = info
            if name in disabled or (enabled is not None and name not in enabled):
                info.status = "disabled"
                continue
            try:
                plugin = load()
                info.version = info.version or getattr(plugin, "__version__", None)
                self.pm.register(plugin, name=name)
            except Exception as exc:  # any failure of third-party code is isolated
                self._fail(info, exc, "loading")
                continue
            info.plugin = plugin
            info.hooks = [impl_name for impl_name in _hook_names(self.pm, plugin)]
            self.check_tables(info)
        self.packages = plugin_packages({n: i.module for n, i in self.infos.items()})
        self.call_each("junction_addhooks", pluginmanager=self.pm)
        # Hooks of later-added specs are now known; refresh and verify every impl.
        for info in self.loaded():
            info.hooks = list(_hook_names(self.pm, info.plugin))
        self._check_pending()

    def _check_pending(self) -> None:
        """Fail every plugin implementing a ``junction_*`` hook that no spec declares.

        pluggy reports one offender at a time, so repeat until none is left.
        """
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                bad = [info for info in self.loaded() if info.plugin is exc.plugin]
                if not bad:  # not one of ours: nothing we could unregister
                    log.error("plugin hook validation failed: %s", exc)
                    return
                for info in bad:
                    self._fail(info, exc, "validating hooks")

    # -- calling ---------------------------------------------------------------------------
    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook_name`` on every loaded plugin, isolating failures.

        Returns ``[(plugin_name, result)]`` for the plugins that answered without raising (and
        returned something other than ``None``). A plugin that raises is marked failed and
        unregistered so none of its other hooks run later.
        """
        results: list[tuple[str, Any]] = []
        caller = getattr(self.pm.hook, hook_name, None)
        if caller is None:
            return results
        for impl in reversed(caller.get_hookimpls()):
            info = self.infos.get(impl.plugin_name)
            if info is None or info.status != "loaded":
                continue
            try:
                args = {arg: kwargs[arg] for arg in impl.argnames}
                result = impl.function(**args)
            except Exception as exc:
                self._fail(info, exc, hook_name)
                continue
            # A hook may import the plugin's models (routes do): check their tables now.
            if not self.check_tables(info):
                continue
            if result is not None and not self._check_declared(info, hook_name, result):
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
                if hook_name == "junction_blueprints":
                    for blueprint in result:
                        name = getattr(blueprint, "name", None)
                        if name:
                            self.blueprint_owners[name] = impl.plugin_name
        return results

    def _check_declared(self, info: PluginInfo, hook_name: str, result: Any) -> bool:
        """Fail ``info`` if ``result`` declares a name outside its namespace; True when fine."""
        try:
            for what, name in declared_names(hook_name, result):
                check_name(info.name, what, name)
        except NamespaceError as exc:
            self._fail(info, exc, NAMESPACE_STAGE)
            return False
        except Exception as exc:  # a malformed result: the core's own consumer reports it
            log.debug("plugin %s: %s result not checked: %s", info.name, hook_name, exc)
        return True

    def check_tables(self, info: PluginInfo) -> bool:
        """Fail ``info`` if a model of its package maps a table outside its namespace.

        Only plugins that are modules (entry points, ``extra`` modules) are checked: a table is
        attributed to a plugin by the module its model class is defined in.
        """
        package = package_of(info.plugin)
        if package is None or info.status != "loaded":
            return info.status == "loaded"
        try:
            for table in tables_of(package):
                check_name(info.name, "table", table)
        except NamespaceError as exc:
            self._fail(info, exc, NAMESPACE_STAGE)
            return False
        return True

    def check_all_tables(self) -> None:
        """Check every loaded plugin's tables (models imported by any code since loading)."""
        for info in list(self.loaded()):
            self.check_tables(info)

    def _fail(self, info: PluginInfo, exc: BaseException, stage: str) -> None:
        info.status = "failed"
        self.any_failed = True
        info.error = f"{stage}: {type(exc).__name__}: {exc}"
        log.error(
            "plugin %s failed while %s; the rest of Junction carries on\n%s",
            info.name,
            stage,
            "".join(traceback.format_exception(exc)),
            extra={"plugin": info.name},
        )
        if info.plugin is not None and self.pm.is_registered(info.plugin):
            self.pm.unregister(info.plugin)

    def failed_owner(self, blueprint: str | None) -> PluginInfo | None:
        """The failed plugin that owns ``blueprint`` (nested names included), if any."""
        if not blueprint:
            return None
        owner = self.blueprint_owners.get(blueprint.split(".", 1)[0])
        info = self.infos.get(owner) if owner else None
        return info if info is not None and info.status == "failed" else None

    def mark_failed(self, name: str, exc: BaseException, stage: str) -> None:
        """Record that plugin ``name`` failed at ``stage`` after loading (e.g. blueprint setup)."""
        info = self.infos.get(name)
        if info is not None:
            self._fail(info, exc, stage)

    # -- reading ---------------------------------------------------------------------------
    def loaded(self) -> Iterator[PluginInfo]:
        """Plugins that are registered and healthy, in name order."""
        return (info for _, info in sorted(self.infos.items()) if info.status == "loaded")

    def as_list(self) -> list[dict[str, Any]]:
        """Every discovered plugin as a dict, in name order."""
        return [info.as_dict() for _, info in sorted(self.infos.items())]


def _hook_names(pm: pluggy.PluginManager, plugin: ModuleType | object) -> Iterator[str]:
    for caller in pm.get_hookcallers(plugin) or []:
        yield caller.name


def reject_failed_plugin_requests() -> Response | None:
    """``before_request``: 503 for a route of a plugin that failed after registering it.

    Flask cannot remove routes, so a plugin whose ``junction_startup`` (or a later blueprint)
    raised still has its URLs mapped; they answer a problem naming the failure instead of
    running half-initialised code.
    """
    state = current_app.extensions.get("junction")
    if state is None or not state.registry.any_failed:
        return None
    info = state.registry.failed_owner(request.blueprint)
    if info is None:
        return None
    return problem(
        503,
        f"Plugin {info.name!r} failed to start; see GET /api/plugins.",
        code="PLUGIN_FAILED",
        retryable=False,
    )
