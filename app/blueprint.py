"""Junction's flask-smorest ``Blueprint``: each blueprint chooses its validation status.

Junction answers a request that fails validation with **422** by default. A plugin whose public
contract says otherwise (the planning seed's error table says 400) creates its blueprint with
``Blueprint(..., validation_status=400)``. The choice then holds for every validation failure of
that blueprint's requests -- schema errors of ``@blp.arguments``, the core's request guards (NUL
characters, unpaired surrogates) and :class:`~app.errors.ValidationFailed` raised with the
default code ``VALIDATION_ERROR`` -- and the OpenAPI document lists that status on each
operation that takes parameters or a body, and as ``x-validation-status`` on every operation.
Problems with a code of their own (``MARQED_INVALID``,
``SECRET_REBIND_REQUIRED``, ``IDEMPOTENCY_KEY_REUSED``...) keep the status they were raised with.
"""

from __future__ import annotations

from typing import Any

import flask_smorest
from apispec import BasePlugin

from app.bodies import JunctionParser
from app.validation import (
    DEFAULT_VALIDATION_STATUS,
    EXTENSION,
    VALIDATION_STATUSES,
    validation_status,
)

__all__ = [
    "DEFAULT_VALIDATION_STATUS",
    "EXTENSION",
    "VALIDATION_STATUSES",
    "Blueprint",
    "ValidationStatusPlugin",
    "validation_status",
]


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest ``Blueprint`` with ``validation_status`` (400 or 422, default 422).

    Its ``arguments`` decorator answers validation failures with that status and documents it
    on the operation; :func:`validation_status` gives it to the core's guards and error
    handlers while a request of this blueprint is served. Its views parse with Junction's
    parser (strict JSON types, one JSON parser) whatever was imported first.
    """

    ARGUMENTS_PARSER = JunctionParser()

    def __init__(
        self, *args: Any, validation_status: int = DEFAULT_VALIDATION_STATUS, **kwargs: Any
    ) -> None:
        if validation_status not in VALIDATION_STATUSES:
            raise ValueError(
                f"validation_status must be one of {sorted(VALIDATION_STATUSES)}, "
                f"not {validation_status!r}"
            )
        super().__init__(*args, **kwargs)
        self.validation_status = validation_status
        self._prepare_doc_cbks.append(self._prepare_validation_doc)

    def arguments(self, schema: Any, **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``, failing (and documented) with the blueprint's status."""
        kwargs.setdefault("error_status_code", self.validation_status)
        return super().arguments(schema, **kwargs)

    def _prepare_validation_doc(
        self, doc: dict[str, Any], doc_info: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        doc[EXTENSION] = self.validation_status
        return doc


class ValidationStatusPlugin(BasePlugin):
    """apispec plugin: every operation states its validation status (``x-validation-status``).

    Operations of a :class:`Blueprint` carry their blueprint's; the rest (plain flask-smorest
    blueprints) get the default, 422.
    """

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        """Add ``x-validation-status`` where the blueprint did not."""
        for method, operation in (operations or {}).items():
            if method != "parameters" and isinstance(operation, dict):
                operation.setdefault(EXTENSION, DEFAULT_VALIDATION_STATUS)
