"""The web console at ``/``: the frame, the core panels and the panels plugins contribute.

Server-rendered Jinja pages with a little plain JavaScript (``static/console.js``: the live
stream and form submission without reloads); every asset is served by Junction itself. The
package, one job per module:

- :mod:`~app.console.session` — the signed session cookie and its CSRF token;
- :mod:`~app.console.guard` — sign-in or loopback, CSRF on every form;
- :mod:`~app.console.panels` — :class:`Panel`, what ``junction_console_panels()`` returns;
- :mod:`~app.console.mount` — mounting plugin panels under ``/console/<plugin>/``;
- :mod:`~app.console.views` — the core pages (overview, projects, operations, events);
- :mod:`~app.console.data` — what the core pages read;
- :mod:`~app.console.charts`, :mod:`~app.console.markdown` — SVG charts, safe Markdown.

See ``docs/console.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.console.panels import Panel

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["Panel", "init_app", "render_markdown"]


def render_markdown(source: str | None) -> object:
    """Markdown as HTML that cannot carry markup of its own (``app.console.markdown.render``)."""
    from app.console.markdown import render

    return render(source)


def init_app(app: Flask) -> None:
    """Register the console: its guard, cookie handling, core pages and plugin panels."""
    from app.console import guard, mount, session, views

    app.before_request(guard.check_console_request)
    app.after_request(session.save)
    app.after_request(guard.security_headers)
    app.register_blueprint(views.blp)
    mount.mount_panels(app)
