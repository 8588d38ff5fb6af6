"""Console panels: what a plugin's ``junction_console_panels()`` returns, checked and mounted.

A :class:`Panel` (or a dict of the same fields) names a title, a Jinja template, a view that
gives the template its context, the event channels the panel follows and optional actions.
The core mounts each panel at ``/console/<plugin>/<path>`` (so a plugin's pages can only live
under its own prefix), renders its template inside the console frame, serves the same template
alone as the live fragment (``?fragment=1``) that the page re-fetches when an event arrives on
one of its channels, and routes each action at ``POST /console/<plugin>/<path>/<action>``
behind the sign-in and CSRF checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.events.streams import CHANNEL_RE
from app.namespaces import NamespaceError, check_name

SEGMENT = r"[a-z0-9][a-z0-9_-]{0,62}"
PATH_RE = re.compile(rf"^(?:{SEGMENT}(?:/{SEGMENT})*)?$")
NAME_RE = re.compile(rf"^{SEGMENT}$")
PANEL_FIELDS = frozenset(
    {"title", "template", "view", "channels", "path", "name", "actions", "description", "order"}
)

View = Callable[[], Mapping[str, Any]]
Action = Callable[[Mapping[str, str]], Any]


@dataclass
class Panel:
    """One page of the console contributed by a plugin.

    - ``title`` — shown in the navigation and as the page heading.
    - ``template`` — a Jinja template named ``<plugin>/...`` in the plugin package's
      ``templates/`` folder; it renders the panel's body (the frame adds the rest).
    - ``view`` — called with no arguments inside the request; returns the template's context.
    - ``channels`` — event channels the panel follows: an event on one re-renders the body.
    - ``path`` — the panel's route below ``/console/<plugin>/`` (``""``: the prefix itself).
    - ``name`` — the endpoint name, in the plugin's namespace (default: the plugin's name,
      ``<plugin>_<path>`` for a sub-path).
    - ``actions`` — ``{action: callable(form)}`` run by ``POST .../<path>/<action>`` with the
      submitted form fields; return a short message (``str``), raise an ``app.errors``
      exception to report a failure.
    - ``description`` — one line under the heading; ``order`` — position in the navigation.
    """

    title: str
    template: str
    view: View | None = None
    channels: Sequence[str] = ()
    path: str = ""
    name: str = ""
    actions: Mapping[str, Action] = field(default_factory=dict)
    description: str = ""
    order: int = 100
    plugin: str = ""

    @property
    def url(self) -> str:
        """The panel's page: ``/console/<plugin>/<path>``."""
        return f"/console/{self.plugin}/{self.path}" if self.path else f"/console/{self.plugin}/"

    @property
    def endpoint(self) -> str:
        """The Flask endpoint of the page (``console_<plugin>.<name>``)."""
        return f"console_{self.plugin}.{self.name}"


def normalise(plugin: str, raw: Panel | Mapping[str, Any]) -> Panel:
    """A checked :class:`Panel` of ``plugin`` from a hook's result item.

    Raises :class:`~app.plugins.NamespaceError` for a name, path or template outside the
    plugin's namespace and :class:`ValueError` for a malformed panel.
    """
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - PANEL_FIELDS)
        if unknown:
            raise ValueError(f"console panel of {plugin!r} has unknown fields {unknown}")
        panel = Panel(**dict(raw))
    elif isinstance(raw, Panel):
        panel = Panel(**{name: getattr(raw, name) for name in PANEL_FIELDS})
    else:
        raise ValueError(f"console panel of {plugin!r} must be a Panel or a dict, not {raw!r}")
    panel.plugin = plugin
    if not NAME_RE.match(plugin):
        raise NamespaceError(f"plugin {plugin!r} has no URL-safe name for /console/{plugin}/")
    if not isinstance(panel.title, str) or not panel.title.strip():
        raise ValueError(f"console panel of {plugin!r} needs a title")
    if not isinstance(panel.path, str) or not PATH_RE.match(panel.path):
        raise NamespaceError(
            f"console panel path {panel.path!r} of plugin {plugin!r} must be lower-case "
            "segments (a-z, 0-9, _ and -) below /console/{plugin}/"
        )
    panel.name = panel.name or (
        plugin if not panel.path else f"{plugin}_{panel.path.replace('/', '_')}"
    )
    check_name(plugin, "console panel", panel.name)
    if not NAME_RE.match(panel.name.replace(".", "_").replace(":", "_")):
        raise ValueError(f"console panel name {panel.name!r} is not a valid endpoint name")
    if not isinstance(panel.template, str) or not panel.template.startswith(f"{plugin}/"):
        raise NamespaceError(
            f"console panel template {panel.template!r} of plugin {plugin!r} must be named "
            f"'{plugin}/...' (in the plugin's templates/ folder)"
        )
    if panel.view is not None and not callable(panel.view):
        raise ValueError(f"console panel view of {plugin!r} must be callable")
    channels = [panel.channels] if isinstance(panel.channels, str) else list(panel.channels)
    bad = [c for c in channels if not isinstance(c, str) or not CHANNEL_RE.match(c)]
    if bad:
        raise ValueError(f"console panel of {plugin!r} follows invalid channel {bad[0]!r}")
    panel.channels = channels
    for action, handler in dict(panel.actions).items():
        if not isinstance(action, str) or not NAME_RE.match(action) or not callable(handler):
            raise ValueError(f"console panel action {action!r} of {plugin!r} is malformed")
    panel.actions = dict(panel.actions)
    return panel
