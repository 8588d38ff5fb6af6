"""Rendering a console page: the frame around a panel's body, or the body alone (the live
fragment the page re-fetches when an event arrives)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template, request
from flask.wrappers import Response
from markupsafe import Markup

from app.console import data
from app.console.panels import Panel
from app.events.streams import CHANNEL_RE

log = logging.getLogger(__name__)
#: The context key by which a panel's view follows channels known only per request.
EXTRA_CHANNELS_KEY = "console_channels"
MAX_EXTRA_CHANNELS = 20


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation."""

    title: str
    url: str
    plugin: str = "core"


CORE_NAV = (
    NavItem("Overview", "/"),
    NavItem("Projects", "/console/projects"),
    NavItem("Operations", "/console/operations"),
    NavItem("Events", "/console/events"),
)


def navigation(panels: Sequence[Panel]) -> list[NavItem]:
    """The core pages, then every plugin panel."""
    return [*CORE_NAV, *(NavItem(p.title, p.url, p.plugin) for p in panels)]


def is_fragment() -> bool:
    """Whether the live script asked for the body alone."""
    return request.args.get("fragment") == "1"


def render_page(
    *,
    title: str,
    body_template: str,
    build: Callable[[], Mapping[str, Any]],
    channels: Sequence[str],
    nav: Sequence[Panel],
    description: str = "",
    notice: Mapping[str, Any] | None = None,
    status: int = 200,
    plugin: str = "core",
    last_event_id: int | None = None,
) -> Response:
    """The page (or ``?fragment=1``: its body) of ``body_template`` with ``build()``'s context.

    The newest event id is read *before* the data (or given, read before by the caller), and
    the page's stream resumes after it, so an event that happens while the page renders is
    replayed rather than lost.
    """
    if last_event_id is None:
        last_event_id = data.last_event_id()
    body = render_template(body_template, **dict(build()))
    if is_fragment():
        html = body
    else:
        html = render_template(
            "console/page.html",
            title=title,
            description=description,
            body=Markup(body),
            channels=list(channels),
            last_event_id=last_event_id,
            nav=navigation(nav),
            current=request.path,
            notice=notice,
            plugin=plugin,
            version=data.version(),
        )
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


def extra_channels(panel: Panel, context: Mapping[str, Any]) -> list[str]:
    """The valid channels a view adds under ``console_channels`` (e.g. the channel of the one
    export a page shows), after the panel's own; invalid names are dropped and logged."""
    extra = context.get(EXTRA_CHANNELS_KEY) or ()
    if isinstance(extra, str):
        extra = [extra]
    chosen = list(panel.channels)
    for channel in extra:
        if not isinstance(channel, str) or not CHANNEL_RE.match(channel):
            log.warning("console panel %s follows invalid channel %r", panel.name, channel)
        elif channel not in chosen and len(chosen) < len(panel.channels) + MAX_EXTRA_CHANNELS:
            chosen.append(channel)
    return chosen


def render_panel(
    panel: Panel,
    *,
    nav: Sequence[Panel],
    notice: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """A plugin panel's page: its ``view()`` context in its template, inside the frame.

    A view or template that raises does not take the frame down: the page says the panel
    failed (the log has the traceback) and keeps following its channels, so it recovers live.
    """
    last_event_id = data.last_event_id()
    template = panel.template
    channels = list(panel.channels)
    try:
        context = {"panel": panel, **dict(panel.view() if panel.view else {})}
        body = render_template(template, **context)
        channels = extra_channels(panel, context)
    except Exception:
        log.exception("console panel %s of plugin %s failed", panel.name, panel.plugin)
        from app.db import db

        db.session.rollback()
        template, body = "console/panel_failed.html", ""
        context = {"panel": panel}
    return render_page(
        title=panel.title,
        body_template="console/prerendered.html" if body else template,
        build=lambda: {"body": Markup(body)} if body else context,
        channels=channels,
        nav=nav,
        description=panel.description,
        notice=notice,
        status=status,
        plugin=panel.plugin,
        last_event_id=last_event_id,
    )
