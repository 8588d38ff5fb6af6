"""Durable long-running operations: claim, lease, progress, checkpoint, resume, cancel.

Plugins declare handlers with ``junction_operations()`` -> ``{kind: handler}``; a handler is
``handler(ctx: OperationContext) -> result``. :func:`submit` stores a pending row; runners
(:func:`run_pending`, the scheduler's ``operations.runner`` job, ``flask junction operations
run``) claim due rows atomically, renew their lease while the handler works, retry temporary
failures with backoff, and take over rows whose lease expired, resuming from the checkpoint.
A route answers with :func:`submit_and_respond` (200 with the result, 202 with the operation,
or the failure's problem). See ``docs/operations.md``.
"""

from __future__ import annotations

import logging

from flask import Flask

from app import scheduler
from app.operations.answer import (
    OperationFailed,
    accepted,
    outcome,
    submit_and_respond,
    submit_and_wait,
)
from app.operations.models import FINISHED, STATUSES, UNFINISHED, Operation
from app.operations.runner import (
    OperationContext,
    claim_next,
    run_claimed,
    run_pending,
    runner_job,
)
from app.operations.runtime import (
    LeaseLost,
    OperationCancelled,
    PermanentFailure,
    Runtime,
    TemporaryFailure,
    failure_of,
    runtime,
)
from app.operations.schemas import AcceptedSchema, WaitQuerySchema
from app.operations.service import (
    cancel_operation,
    get_operation,
    list_operations,
    register_handler,
    retry_operation,
    submit,
    wait_for,
)

__all__ = [
    "FINISHED",
    "STATUSES",
    "UNFINISHED",
    "AcceptedSchema",
    "LeaseLost",
    "Operation",
    "OperationCancelled",
    "OperationContext",
    "OperationFailed",
    "PermanentFailure",
    "Runtime",
    "TemporaryFailure",
    "WaitQuerySchema",
    "accepted",
    "cancel_operation",
    "claim_next",
    "failure_of",
    "get_operation",
    "init_app",
    "list_operations",
    "outcome",
    "register_handler",
    "retry_operation",
    "run_claimed",
    "run_pending",
    "runner_job",
    "runtime",
    "submit",
    "submit_and_respond",
    "submit_and_wait",
    "wait_for",
]

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Collect handlers, register the API and WebSocket routes, and the runner job."""
    from app.operations import routes

    state = app.extensions["junction"]
    state.set_service(
        Runtime, Runtime(lease_seconds=float(app.config["JUNCTION_OPERATION_LEASE_SECONDS"]))
    )

    for plugin, declared in state.registry.call_each("junction_operations"):
        try:
            for kind, handler in dict(declared).items():
                if kind in state.operation_handlers:
                    log.error("plugin %s: operation kind %r is already taken", plugin, kind)
                    continue
                register_handler(kind, handler, app)
        except Exception as exc:  # a malformed declaration must not take the app down
            state.registry.mark_failed(plugin, exc, "declaring operations")

    state.api.register_blueprint(routes.blp)
    app.register_blueprint(routes.ws_bp)
    _register_runner_job()


def _register_runner_job() -> None:
    # runner_job hands work to background threads and returns at once; run_pending itself
    # would block the scheduler for as long as an operation runs. Every participating process
    # runs it, leader or not: a stuck election must not stop durable work.
    scheduler.register_core_job(runner_job, seconds=1, id="operations.runner", leader_only=False)
