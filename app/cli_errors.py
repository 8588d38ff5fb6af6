"""How every ``junction`` command reports a failure: one JSON problem document on stderr, exit 1.

The document has the HTTP API's members (``type``, ``title``, ``status``, ``detail``, ``code``,
plus ``errors`` for validation), so scripts parse one shape everywhere and ``detail`` says what
to do. No traceback is printed (run with ``JUNCTION_LOG_LEVEL=debug`` to log one). Usage errors
(a wrong option, a missing argument) stay click's own: usage text and exit 2.

A command group gets this by being a :class:`JunctionGroup` (or sitting inside one: the
``junction`` group is one, so everything under it is covered). Commands raise
:class:`~app.errors.JunctionError` (services already do) or :class:`CliError`; a database that
cannot be reached becomes a ``DATABASE_UNAVAILABLE`` problem that names the fix.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import IO, Any

import click
from flask.cli import AppGroup

from app.errors import JunctionError

__all__ = ["CliError", "JunctionGroup", "problem_of"]

log = logging.getLogger(__name__)


class CliError(click.ClickException):
    """A command failed: printed as a JSON problem document on stderr, exit status 1."""

    exit_code = 1

    def __init__(
        self,
        detail: str,
        *,
        code: str = "COMMAND_FAILED",
        status: int = 400,
        errors: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.document: dict[str, Any] = {
            "type": f"urn:junction:{code.lower()}",
            "title": _phrase(status),
            "status": status,
            "detail": detail,
            "code": code,
            **({"errors": errors} if errors else {}),
            **extra,
        }

    def show(self, file: IO[Any] | None = None) -> None:
        """Write the problem document (one line of JSON) to stderr."""
        click.echo(json.dumps(self.document, default=str), file=file, err=file is None)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_of(exc: BaseException) -> CliError:
    """The :class:`CliError` for any exception a command let escape."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, JunctionError):
        return CliError(
            exc.detail, code=exc.code, status=exc.status, errors=exc.errors, **exc.extra
        )
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        from app.migrate import database_problem

        code, detail = database_problem(exc)
        return CliError(detail, code=code, status=503)
    from app.redaction import redact

    log.debug("command failed", exc_info=exc)
    return CliError(
        f"{type(exc).__name__}: {redact(str(exc))} (run with JUNCTION_LOG_LEVEL=debug for "
        "the traceback)",
        code="INTERNAL_ERROR",
        status=500,
    )


class JunctionGroup(AppGroup):
    """A Flask CLI group whose commands (and sub-groups') failures print as :class:`CliError`.

    Plugins make their group one (``JunctionGroup("planning", help=...)``) and raise
    ``JunctionError``/``CliError`` instead of printing and exiting themselves.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn any failure but click's own into a :class:`CliError`."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            raise problem_of(exc) from None
