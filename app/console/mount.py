"""Mounting the plugins' panels: one Flask blueprint per plugin at ``/console/<plugin>/``.

Each panel gets a page (its template inside the frame; ``?fragment=1`` gives the template alone,
which the page re-fetches live) and one ``POST`` route per action. A plugin whose panels are
malformed or outside its namespace is failed like any other broken plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from app.console import guard
from app.console.panels import Panel, normalise
from app.console.render import render_panel
from app.errors import JunctionError
from app.namespaces import NamespaceError
from app.plugins import NAMESPACE_STAGE, package_of
from app.state import junction_state

log = logging.getLogger(__name__)
PANELS_KEY = "console_panels"


def panels(app: Flask | None = None) -> list[Panel]:
    """Every mounted panel of plugins still loaded, in navigation order."""
    from flask import current_app

    state = junction_state(app or current_app)
    mounted: list[Panel] = (app or current_app).extensions.get(PANELS_KEY, [])
    loaded = {info.name for info in state.registry.loaded()}
    return [panel for panel in mounted if panel.plugin in loaded]


def mount_panels(app: Flask) -> None:
    """Collect ``junction_console_panels()`` from every plugin and mount what passes checks."""
    registry = junction_state(app).registry
    mounted: list[Panel] = []
    for plugin, result in registry.call_each("junction_console_panels"):
        try:
            items = [normalise(plugin, raw) for raw in list(result)]
            paths = [panel.path for panel in items]
            if len(set(paths)) != len(paths):
                raise ValueError(f"two console panels of {plugin!r} share a path")
            blueprint = _blueprint(plugin, registry.infos[plugin].plugin, items)
            app.register_blueprint(blueprint)
        except NamespaceError as exc:
            registry.mark_failed(plugin, exc, NAMESPACE_STAGE)
            continue
        except Exception as exc:  # a malformed panel fails its plugin, not the console
            registry.mark_failed(plugin, exc, "junction_console_panels")
            continue
        mounted.extend(items)
    mounted.sort(key=lambda panel: (panel.order, panel.plugin, panel.title))
    app.extensions[PANELS_KEY] = mounted


def _blueprint(plugin: str, module: Any, items: list[Panel]) -> Blueprint:
    import_name = package_of(module) or getattr(module, "__module__", None) or __name__
    blueprint = Blueprint(
        f"console_{plugin}",
        import_name,
        url_prefix=f"/console/{plugin}",
        template_folder="templates",
    )
    for panel in items:
        rule = f"/{panel.path}" if panel.path else "/"
        blueprint.add_url_rule(rule, panel.name, _page_view(panel), methods=["GET"])
        for action, handler in panel.actions.items():
            blueprint.add_url_rule(
                f"{rule.rstrip('/')}/{action}",
                f"{panel.name}__{action}",
                _action_view(panel, handler),
                methods=["POST"],
            )
    return blueprint


def _plugin_failed(panel: Panel) -> Response | None:
    """A 503 page when the panel's plugin failed after its panels were mounted."""
    if panel in panels():
        return None
    return guard.refuse(503, f"Plugin {panel.plugin!r} failed; see the overview's plugin list.")


def _page_view(panel: Panel) -> Callable[[], Any]:
    def view() -> Any:
        return _plugin_failed(panel) or render_panel(panel, nav=panels())

    view.__name__ = f"panel_{panel.name}"
    return view


def _action_view(panel: Panel, handler: Callable[..., Any]) -> Callable[..., Any]:
    def view() -> Any:
        failed = _plugin_failed(panel)
        if failed is not None:
            return failed
        form = {key: value for key, value in request.form.items() if key != "csrf_token"}
        try:
            message = handler(form)
        except JunctionError as exc:
            return answer(panel, False, exc.detail, exc.status)
        except Exception:
            log.exception("console action of %s failed", panel.plugin)
            return answer(panel, False, "The action failed; the log has the details.", 500)
        return answer(panel, True, str(message or "Done."), 200)

    view.__name__ = f"action_{panel.name}"
    return view


def answer(panel: Panel, ok: bool, message: str, status: int) -> Response | Any:
    """JSON for the console's script; the panel page with the message for a plain form post."""
    if guard.wants_json():
        response = jsonify({"ok": ok, "message": message})
        response.status_code = status
        return response
    return render_panel(panel, nav=panels(), notice={"ok": ok, "message": message}, status=status)
