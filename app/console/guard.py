"""Who may see the console, and the CSRF check of every form it posts.

``before_request`` for ``/`` and ``/console/...`` (the static files excepted), after the core's
Host and Origin guards of :mod:`app.auth`:

- with ``JUNCTION_API_TOKENS``: a signed-in session (:mod:`app.console.session`), else a
  redirect to the sign-in page (a page) or 401 (a fragment or a form post);
- without tokens: direct loopback clients only, as the API;
- every ``POST`` carries the session's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``), the sign-in form included, else 403.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, current_app, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns

from app import auth
from app.console import session

SIGNIN_PATH = "/console/signin"
STATIC_PREFIX = "/console/static/"
LIVE_HEADER = "X-Requested-With"
LIVE_VALUE = "junction-console"


def is_console_path(path: str) -> bool:
    """Whether ``path`` is one of the console's (the frame's and every panel's)."""
    return path in ("/", "/console") or path.startswith("/console/")


def wants_json() -> bool:
    """Whether the console's own script made the request (it reads JSON answers)."""
    return request.headers.get(LIVE_HEADER) == LIVE_VALUE


def refuse(status: int, message: str, *, signin: bool = False) -> Response:
    """A refusal as the caller reads it: JSON for the console's script, else a page."""
    if wants_json():
        response = jsonify({"ok": False, "message": message, "signin": signin})
    else:
        response = current_app.make_response(
            render_template(
                "console/error.html", status=status, message=message, signin=signin, nav=[]
            )
        )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def tokens_configured() -> bool:
    """Whether the console needs a sign-in (``JUNCTION_API_TOKENS`` is set)."""
    return bool(current_app.config.get("JUNCTION_API_TOKENS"))


def check_console_request() -> BaseResponse | None:
    """``before_request``: sign-in or loopback, then CSRF on every state-changing request."""
    path = request.path
    if not is_console_path(path) or path.startswith(STATIC_PREFIX):
        return None
    if tokens_configured():
        if path != SIGNIN_PATH and session.signed_in() is None:
            if request.method == "GET" and not wants_json() and not request.args.get("fragment"):
                target = request.full_path if request.query_string else path
                return redirect(f"{SIGNIN_PATH}?next={quote(target, safe='/')}", code=303)
            return refuse(401, "Sign in again: the console session ended.", signin=True)
    elif not auth.is_direct_loopback():
        return refuse(
            403,
            "No API token is configured, so the console answers direct loopback clients only. "
            "Set JUNCTION_API_TOKENS to sign in from elsewhere.",
        )
    if request.method in auth.STATE_CHANGING and not session.request_csrf_ok():
        return refuse(
            403,
            "This form's CSRF token is missing or out of date. Reload the page and try again.",
        )
    return None


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# Scripts and styles come from Junction only; no inline script can run even if markup slipped
# through escaping, and no other site may frame the console (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def security_headers(response: Response) -> Response:
    """``after_request``: CSP and friends on every console page."""
    path = request.path
    headers = response.headers
    if is_console_path(path) and not path.startswith(STATIC_PREFIX):
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
    # Set, not setdefault: "nosniff" is the header's only value, and asking Werkzeug's headers
    # whether one is there raises and catches an exception when it is not (every request).
    headers["X-Content-Type-Options"] = "nosniff"
    return response
