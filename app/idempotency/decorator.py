"""``@idempotent``: the view decorator, and what it adds to the OpenAPI document."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar, cast, overload

from flask import Response, g, request

from app.errors import problem
from app.idempotency.claims import OUTCOMES, _claim, _complete, _keeps, _release
from app.idempotency.keys import (
    HEADER,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    InvalidKey,
    _key_from_headers,
    request_fingerprint,
)
from app.state import current_app_object

log = logging.getLogger("app.idempotency")  # one logger for the package, as before the split

F = TypeVar("F", bound=Callable[..., Any])


@overload
def idempotent(view: F) -> F: ...


@overload
def idempotent(view: None = None, *, store_server_errors: bool = False) -> Callable[[F], F]: ...


def idempotent(view: Any = None, *, store_server_errors: bool = False) -> Any:
    """Make a POST/PATCH view honour ``Idempotency-Key`` (and ``X-Idempotency-Key``).

    Use bare (``@idempotent``) or with options. ``store_server_errors=True`` also keeps 5xx
    responses (Stripe API v1 behaviour) for views whose side effects are not transactional;
    by default a 5xx releases the key so a retry executes again (see docs/idempotency.md).
    A request without the header runs as usual.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return _run(func, args, kwargs, store_server_errors)

        _document(wrapper)
        wrapper._junction_idempotent = True  # type: ignore[attr-defined]  # marker on the view
        return cast(F, wrapper)  # functools.wraps keeps the signature callers see

    return decorate(view) if view is not None else decorate


def _run(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], keep_5xx: bool
) -> Any:
    try:
        key = _key_from_headers(request.headers)
    except InvalidKey as exc:
        OUTCOMES.labels("invalid").inc()
        return problem(
            400,
            f"Invalid {HEADER} header: {exc}. Send 1 to {MAX_KEY_LENGTH} printable ASCII "
            'characters, e.g. a UUID, optionally quoted: Idempotency-Key: "8e03978e-40d5".',
            code="IDEMPOTENCY_KEY_INVALID",
            retryable=False,
        )
    if key is None or request.method not in {"POST", "PATCH"}:
        return func(*args, **kwargs)

    scope = g.get("caller") or "anonymous"
    endpoint = request.endpoint or request.path
    fingerprint = request_fingerprint(
        request.method,
        request.path,
        list(request.args.items(multi=True)),
        request.get_data(cache=True),
    )
    claim = _claim(scope, endpoint, key, fingerprint)
    if isinstance(claim, Response):
        return claim

    app = current_app_object()
    try:
        try:
            response = app.make_response(func(*args, **kwargs))
        except Exception as exc:
            # Render the error exactly as Flask would, so it can be stored and replayed too.
            response = app.make_response(app.handle_user_exception(exc))
    except BaseException:
        _safely(_release, claim)
        raise

    if _keeps(response.status_code, keep_5xx) and not response.is_streamed:
        OUTCOMES.labels("executed").inc()
        _safely(_complete, claim, response)
    else:
        OUTCOMES.labels("released").inc()
        _safely(_release, claim)
    return response


def _safely(action: Callable[..., None], *args: Any) -> None:
    # The request itself is done; failing to record it must not turn its answer into a 500.
    # The in-flight lock expires on its own, after which the key can be claimed again.
    try:
        action(*args)
    except Exception:
        log.exception("could not update the idempotency record")


# -- OpenAPI ------------------------------------------------------------------------------------

_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    # The bare form (printable ASCII, no space, not starting with a quote); the quoted form
    # (a structured-field string) is accepted too, as the description says.
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": rf"^[!#-~][!-~]{{0,{MAX_KEY_LENGTH - 1}}}$",
    },
    "description": (
        "Makes the request safe to retry: the first request with a key executes; repeating it "
        "replays the stored response with `Idempotent-Replayed: true`. Same key with a "
        "different request: 422; while the first is still running: 409. 1-255 printable "
        'ASCII characters (a UUID), bare or as a structured-field string ("..."); '
        "`X-Idempotency-Key` is accepted too. Keys are scoped to the caller's token and this "
        "endpoint and kept 24 h (JUNCTION_IDEMPOTENCY_TTL). Policy: docs/idempotency.md."
    ),
}
_ALT_RESPONSES = {
    400: "Malformed Idempotency-Key (code IDEMPOTENCY_KEY_INVALID).",
    409: "A request with this Idempotency-Key is still running (IDEMPOTENCY_IN_FLIGHT); retry.",
    422: "The Idempotency-Key was used for a different request (IDEMPOTENCY_KEY_REUSED).",
}


def _document(wrapper: Callable[..., Any]) -> None:
    """Add the header parameter, the replay header and the error responses to the view's doc."""
    apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    apidoc.setdefault("arguments", {}).setdefault("parameters", []).append(deepcopy(_PARAMETER))
    responses = apidoc.setdefault("response", {}).setdefault("responses", {})
    for status in apidoc.get("success_status_codes", []):
        for doc in responses.get(status, []):
            if isinstance(doc, dict):
                doc.setdefault("headers", {})[REPLAYED_HEADER] = {
                    "description": "`true` when this is the stored response of an earlier "
                    "request with the same Idempotency-Key.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
    for status, description in _ALT_RESPONSES.items():
        entries = responses.setdefault(status, [])
        if not entries:  # keep a view's own description of e.g. its 409
            entries.append({"schema": "Problem", "description": description, "content_type": None})
    wrapper._apidoc = apidoc  # type: ignore[attr-defined]  # flask-smorest reads _apidoc
