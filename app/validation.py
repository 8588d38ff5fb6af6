"""The validation status of the request being served: 422, or what its blueprint chose.

Kept apart from :mod:`app.blueprint` (which defines that choice) so that the error handlers and
request guards can ask for it without importing flask-smorest's blueprint machinery.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request

DEFAULT_VALIDATION_STATUS = 422
# 400 for contracts that predate 422 (or say so), 422 for Junction's own.
VALIDATION_STATUSES = frozenset({400, 422})
# The OpenAPI operation member that states the operation's validation status.
EXTENSION = "x-validation-status"


def validation_status() -> int:
    """The validation status of the blueprint serving the current request (422 by default).

    Outside a request, or for a request no blueprint serves (an unknown path), it is the
    default.
    """
    if not has_request_context() or not request.blueprint:
        return DEFAULT_VALIDATION_STATUS
    blueprint = current_app.blueprints.get(request.blueprint)
    status = getattr(blueprint, "validation_status", DEFAULT_VALIDATION_STATUS)
    return status if status in VALIDATION_STATUSES else DEFAULT_VALIDATION_STATUS
