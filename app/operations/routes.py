"""``/api/operations`` (list, show, cancel, retry) and ``/ws/operations/{id}`` (live progress)."""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from flask import Blueprint as FlaskBlueprint
from flask import request
from flask_smorest import Blueprint
from flask_sock import Sock

from app import events
from app.db import db
from app.errors import problem
from app.operations import schemas as s
from app.operations import service
from app.operations.models import FINISHED, Operation
from app.operations.runtime import runtime

log = logging.getLogger(__name__)

blp = Blueprint(
    "operations",
    __name__,
    url_prefix="/api/operations",
    description="Durable long-running operations: progress, results, cancellation.",
)


# Operation ids are UUIDs (models.new_operation_id); documented so that clients (and fuzzers)
# know the form; any other id is a 404.
OPERATION_ID_PARAMETER: dict[str, Any] = {
    "in": "path",
    "name": "operation_id",
    "description": "The operation's id (a UUID).",
    "schema": {"type": "string", "format": "uuid", "maxLength": 36},
}


@blp.get("")
@blp.arguments(s.OperationQuerySchema, location="query")
@blp.response(200, s.OperationPageSchema)
def list_operations(query: dict[str, Any]) -> dict[str, Any]:
    """List operations, newest first; filter by ``kind``, ``status`` and ``project``."""
    limit, offset = query.pop("limit"), query.pop("offset")
    return service.list_operations(query, limit, offset)


@blp.get("/<string:operation_id>", parameters=[OPERATION_ID_PARAMETER])
@blp.response(200, s.OperationSchema)
@blp.alt_response(404, schema="Problem")
def get_operation(operation_id: str) -> Operation:
    """One operation with its progress, result or error."""
    return service.get_operation(operation_id)


@blp.post("/<string:operation_id>/cancel", parameters=[OPERATION_ID_PARAMETER])
@blp.arguments(s.CancelRequestSchema, required=False)
@blp.response(200, s.OperationSchema)
@blp.alt_response(404, schema="Problem")
@blp.alt_response(409, schema="Problem", description="The operation already finished.")
def cancel_operation(data: dict[str, Any], operation_id: str) -> Operation:
    """Cancel: pending ends ``cancelled`` at once; running stops at the handler's next check."""
    return service.cancel_operation(operation_id, reason=data.get("reason"))


@blp.post("/<string:operation_id>/retry", parameters=[OPERATION_ID_PARAMETER])
@blp.arguments(s.RetryRequestSchema, required=False)
@blp.response(200, s.OperationSchema)
@blp.alt_response(404, schema="Problem")
@blp.alt_response(409, schema="Problem", description="Not failed or cancelled.")
def retry_operation(data: dict[str, Any], operation_id: str) -> Operation:
    """Run a failed or cancelled operation again, from its checkpoint."""
    return service.retry_operation(operation_id, max_attempts=data.get("max_attempts"))


# -- WebSocket ----------------------------------------------------------------------------------

ws_bp = FlaskBlueprint("operations_ws", __name__)
_sock = Sock()


@ws_bp.before_request
def _check_ws_request() -> Any:
    """Refuse before the upgrade: foreign browser origins (403) and unknown operations (404)."""
    refused = events.stream_refusal()  # the events streams' rule: every stream alike
    if refused is not None:
        return problem(refused.status, refused.detail, code=refused.code)
    operation_id = (request.view_args or {}).get("operation_id")
    if operation_id is not None and db.session.get(Operation, operation_id) is None:
        return problem(404, f"No operation with id {operation_id!r}.")
    return None


@_sock.route("/ws/operations/<string:operation_id>", bp=ws_bp)
def operation_stream(ws: Any, operation_id: str) -> None:
    """Send the operation's state now, then each change, and close once it has finished.

    Messages are JSON ``{"type": ..., "data": <operation>}``: ``operation.snapshot`` first, then
    ``operation.progress`` or ``operation.<status>`` on every change.
    """
    poll = runtime().poll_interval
    db.session.remove()  # the connection is long-lived: hold no session or snapshot across it
    last = _read(operation_id)
    if last is None:
        return
    ws.send(json.dumps({"type": "operation.snapshot", "data": last}))
    while last["status"] not in FINISHED:
        # receive() doubles as the wait and notices a client that went away.
        ws.receive(timeout=poll)
        current = _read(operation_id)
        if current is None:
            return
        if current != last:
            kind = "progress" if current["status"] == last["status"] else current["status"]
            ws.send(json.dumps({"type": f"operation.{kind}", "data": current}))
            last = current
    ws.close(reason=1000, message="operation finished")


def _read(operation_id: str) -> dict[str, Any] | None:
    table = Operation.__table__
    with db.engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.id == operation_id)).first()
    if row is None:
        return None
    operation = Operation(**dict(row._mapping))
    return operation.public()
