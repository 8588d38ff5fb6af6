"""Request-shape guards for ``/api``: JSON bodies only (415), no NUL characters (422), chunked
bodies within ``MAX_CONTENT_LENGTH`` (413); :func:`raw_body` marks the views that read the raw
body themselves (webhooks)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Request, Response, current_app

from app.errors import VALIDATION_CODE, field_error, problem
from app.state import current_request_object
from app.validation import validation_status

F = TypeVar("F", bound=Callable[..., Any])

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def raw_body(view: F | None = None, *, content_types: tuple[str, ...] | None = None) -> Any:
    """Mark a view that reads the raw body itself (webhooks), so no JSON content type is forced.

    ``@raw_body(content_types=("application/json",))`` still refuses (415) a body of any other
    type: a web page can POST ``text/plain`` cross-site without a preflight, so a view that
    parses the body regardless of its type takes requests no API client would send. Such a view
    parses JSON with :func:`parse_json`.
    """

    def mark(target: F) -> F:
        # Marker attributes on the view function, read back through __wrapped__ by _is_raw.
        target._junction_raw_body = True  # type: ignore[attr-defined]
        target._junction_raw_types = content_types  # type: ignore[attr-defined]
        return target

    return mark(view) if view is not None else mark


def require_json_body() -> Response | None:
    """Request-shape guard for ``/api``: 415 for a body that is not JSON, 422 (or the
    blueprint's validation status) for NUL characters.

    Without the 415 a form-encoded POST would be parsed as an empty JSON object and answered with
    a confusing "missing field" error instead of naming the real mistake. NUL characters are
    refused in the path, the query string and JSON strings because PostgreSQL cannot store them
    in text: rejecting them here gives every endpoint, plugins' included, a 422 instead of a
    driver error. Parsing the body here (once, cached for the view) also applies
    :func:`parse_json`'s limits to every JSON body: nesting, long integers and unpaired UTF-16
    surrogates (``"\\ud800"``) become problem documents before any view runs.
    """
    # Every request runs this: the request is resolved once, not through the proxy per read.
    req = current_request_object()
    too_large = _chunked_body_too_large(req)
    if too_large is not None:
        return too_large
    if not req.path.startswith("/api/"):
        return None
    nul = _nul_problem(req)
    if nul is not None:
        return nul
    if req.method not in BODY_METHODS:
        return None
    view = current_app.view_functions.get(req.endpoint or "")
    raw_types = _raw_types(view)
    if raw_types is not None:
        if req.mimetype in raw_types:
            return None
        return problem(
            415,
            f"Send the body as {' or '.join(raw_types)} (got {req.mimetype or 'no content type'}).",
        )
    has_body = (req.content_length or 0) > 0 or "chunked" in req.headers.get(
        "Transfer-Encoding", ""
    )
    if not has_body or req.is_json:
        return None
    if view is not None and _is_raw(view):
        return None
    return problem(
        415,
        f"Send the body as application/json (got {req.mimetype or 'no content type'}).",
    )


def _chunked_body_too_large(req: Request) -> Response | None:
    """413 for a chunked body (no ``Content-Length``) longer than ``MAX_CONTENT_LENGTH``.

    Werkzeug stops reading such a body at the limit and hands the view the truncated bytes
    (a 12 MB JSON body then fails as malformed, 400): read one byte past the limit to tell a
    body of exactly the limit from a longer one.
    """
    if "chunked" not in req.environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    limit = req.max_content_length
    if limit is None or req.content_length is not None:
        return None
    if len(req.get_data(cache=True)) < limit or not req.environ["wsgi.input"].read(1):
        return None
    return problem(
        413, f"Request bodies are limited to {limit} bytes (JUNCTION_MAX_CONTENT_LENGTH)."
    )


def _nul_problem(req: Request) -> Response | None:
    bad: list[dict[str, str]] = []
    if "\x00" in req.path:
        bad.append(field_error("path", "Must not contain NUL characters.", "nul_character"))
    query = req.environ.get("QUERY_STRING", "")
    # A NUL reaches the arguments only as itself or as ``%00``: without either, skip the parse.
    if "%00" in query or "\x00" in query:
        for name, value in req.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                bad.append(field_error(name, "Must not contain NUL characters.", "nul_character"))
    if req.is_json and not _is_raw(current_app.view_functions.get(req.endpoint or "")):
        # ``silent``: malformed JSON is reported by the view's own parser (400 MALFORMED_JSON).
        body = req.get_json(silent=True)
        bad.extend(
            field_error(path, "Must not contain NUL characters.", "nul_character")
            for path in _nul_paths(body, "")
        )
    if not bad:
        return None
    return problem(
        validation_status(),
        "NUL characters (\\u0000) are not accepted.",
        code=VALIDATION_CODE,
        errors=bad,
    )


def _has_nul(text: str) -> bool:
    return "\x00" in text


def _nul_paths(value: Any, path: str, bad: Callable[[str], bool] = _has_nul) -> list[str]:
    """Field paths (``a.b.0``) of the JSON strings, or object keys, where ``bad`` holds
    (by default: that contain NUL)."""
    if isinstance(value, str):
        return [path] if bad(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if bad(str(key)):
                found.append(child)
            found.extend(_nul_paths(item, child, bad))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_nul_paths(item, f"{path}.{index}" if path else str(index), bad))
    return found


# Both cached per view function: the marks are set when the view is defined.
@functools.lru_cache(maxsize=1024)
def _raw_types(view: Callable[..., Any] | None) -> tuple[str, ...] | None:
    while view is not None:
        types = getattr(view, "_junction_raw_types", None)
        if types is not None:
            return tuple(types)
        view = getattr(view, "__wrapped__", None)
    return None


@functools.lru_cache(maxsize=1024)
def _is_raw(view: Callable[..., Any] | None) -> bool:
    while view is not None:
        if getattr(view, "_junction_raw_body", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False
