"""The core pages of the console: overview, projects, operations, events; sign-in and out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns

from app import auth
from app.console import charts, data, guard, session
from app.console.markdown import render as render_markdown
from app.console.mount import panels
from app.console.render import render_page
from app.errors import JunctionError
from app.operations.models import STATUSES

blp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)

OPERATION_CHANNELS = ("operations",)
PROJECT_CHANNELS = ("projects", "planning")


# -- template helpers (for plugin panels too) ---------------------------------------------------


@blp.app_template_global("csrf_token")
def csrf_token() -> str:
    """The CSRF token every console form carries (``<input name="csrf_token">``)."""
    return session.csrf_token()


@blp.app_template_global("console_signed_in")
def console_signed_in() -> bool:
    """Whether a sign-in session is open (tokens mode): the frame offers "Sign out"."""
    return guard.tokens_configured() and session.signed_in() is not None


@blp.app_template_filter("markdown")
def markdown_filter(source: str | None) -> Any:
    """``{{ notes | markdown }}``: escaped-first Markdown (:mod:`app.console.markdown`)."""
    return render_markdown(source)


@blp.app_template_filter("when")
def when_filter(value: Any) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` (ISO strings and datetimes)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        text: str = value
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


@blp.app_template_global("charts")
def charts_module() -> Any:
    """``{{ charts().progress_bar(...) }}`` in a template: :mod:`app.console.charts`."""
    return charts


# -- sign-in ------------------------------------------------------------------------------------


@blp.route("/console/signin", methods=["GET", "POST"])
def signin() -> Any:
    """The sign-in form (with tokens); without tokens there is nothing to sign in to."""
    if not guard.tokens_configured():
        return redirect("/", code=303)
    target = guard.safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        token = (request.form.get("token") or "").strip()
        if token and auth.token_matches(token, current_app.config["JUNCTION_API_TOKENS"]):
            session.sign_in(token)
            return redirect(target, code=303)
        error, status = "That token is not valid.", 401
    html = render_template("console/signin.html", next=target, error=error, nav=[])
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.post("/console/signout")
def signout() -> BaseResponse:
    """Forget the session (the CSRF check ran in the guard)."""
    session.sign_out()
    return redirect(guard.SIGNIN_PATH if guard.tokens_configured() else "/", code=303)


# -- pages --------------------------------------------------------------------------------------


@blp.get("/")
def overview() -> Response:
    """Health, plugins, scheduler, version, and operations at a glance."""

    def build() -> dict[str, Any]:
        return {
            "health": data.health(),
            "plugins": data.plugins(),
            "scheduler": data.scheduler(),
            "operations": data.operations(),
            "by_hour": data.operations_by_hour(),
            "projects": data.projects(),
            "statuses": STATUSES,
        }

    return render_page(
        title="Overview",
        description="What this Junction instance is doing now.",
        body_template="console/overview.html",
        build=build,
        channels=[*OPERATION_CHANNELS, *PROJECT_CHANNELS],
        nav=panels(),
    )


@blp.get("/console/")
def console_root() -> BaseResponse:
    """``/console/`` is the overview."""
    return redirect("/", code=302)


@blp.get("/console/projects")
def projects() -> Response:
    """Projects with their features' figures."""
    return render_page(
        title="Projects",
        description="Registered projects, their features and test runs.",
        body_template="console/projects.html",
        build=lambda: {"projects": data.projects()},
        channels=PROJECT_CHANNELS,
        nav=panels(),
    )


def _feature_filters() -> dict[str, bool]:
    filters: dict[str, bool] = {}
    for name in data.FEATURE_FILTERS:
        value = request.args.get(name, "")
        if value in ("yes", "no"):
            filters[name] = value == "yes"
    return filters


@blp.get("/console/projects/<string:name>")
def project(name: str) -> Response:
    """One project: features (filtered) and its latest test runs."""
    filters = _feature_filters()
    found = data.project(name, filters)
    if found is None:
        return guard.refuse(404, f"No project named {name!r}.")
    return render_page(
        title=f"Project {name}",
        body_template="console/project.html",
        build=lambda: {**(data.project(name, filters) or found), "filters": filters},
        channels=PROJECT_CHANNELS,
        nav=panels(),
    )


@blp.get("/console/operations")
def operations() -> Response:
    """Running operations with live progress, failures with their error, recent ones."""
    return render_page(
        title="Operations",
        description="Durable long-running work: progress, failures, cancel and retry.",
        body_template="console/operations.html",
        build=lambda: {
            "operations": data.operations(),
            "by_hour": data.operations_by_hour(),
            "statuses": STATUSES,
        },
        channels=OPERATION_CHANNELS,
        nav=panels(),
    )


@blp.get("/console/events")
def events() -> Response:
    """The newest events of every channel."""
    followed = sorted(
        {*data.channels(), *OPERATION_CHANNELS, *PROJECT_CHANNELS}
        | {c for p in panels() for c in p.channels}
    )[:50]
    return render_page(
        title="Events",
        description="The event log's tail, newest first.",
        body_template="console/events.html",
        build=lambda: {"events": data.events(), "followed": followed},
        channels=followed,
        nav=panels(),
    )


# -- operation buttons --------------------------------------------------------------------------


@blp.post("/console/operations/<string:operation_id>/<any(cancel, retry):action>")
def operation_action(operation_id: str, action: str) -> Any:
    """Cancel or retry an operation through the same service as the API."""
    from app.operations import service

    try:
        if action == "cancel":
            operation = service.cancel_operation(operation_id, reason="cancelled in the console")
            message = f"Cancel requested for {operation.kind} ({operation.status})."
        else:
            operation = service.retry_operation(operation_id)
            message = f"{operation.kind} will run again ({operation.status})."
        ok, status = True, 200
    except JunctionError as exc:
        message, ok, status = exc.detail, False, exc.status
    if guard.wants_json():
        response = jsonify({"ok": ok, "message": message})
        response.status_code = status
        return response
    return _with_notice(ok, message, status)


def _with_notice(ok: bool, message: str, status: int) -> Response:
    return render_page(
        title="Operations",
        description="Durable long-running work: progress, failures, cancel and retry.",
        body_template="console/operations.html",
        build=lambda: {
            "operations": data.operations(),
            "by_hour": data.operations_by_hour(),
            "statuses": STATUSES,
        },
        channels=OPERATION_CHANNELS,
        nav=panels(),
        notice={"ok": ok, "message": message},
        status=status,
    )
