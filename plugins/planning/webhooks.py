"""Plane webhook deliveries: receipt (size limit, signature, parsing), dedup and re-import.

The route hands the raw delivery to :func:`receive` and the event to :func:`handle_webhook`.

Plane signs the raw body with HMAC-SHA256 (lowercase hex, no prefix) in ``X-Plane-Signature``;
the seed's ``X-Planning-Signature`` is accepted too. Several secrets may be configured at once so
a secret can be rotated without losing deliveries. CE sends v1 payloads (``event``/``action``,
``created`` or the pre-0.20 ``create`` spelling); the hosted edition sends v2 payloads
(``version: "v2"``, ``event: "workitem.updated"``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import events, operations
from app.db import db
from app.domain import Project
from app.errors import BadRequest, Forbidden, JunctionError
from app.jsonparse import parse_json
from plugins.planning import config
from plugins.planning.models import WebhookSeen
from plugins.planning.service import IMPORT_KIND, now, sync_state

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024
DEDUP_SECONDS = 5.0

SIGNATURE_HEADERS = ("X-Plane-Signature", "X-Planning-Signature", "X-Signature")
_ACTIONS = {
    "create": "created",
    "created": "created",
    "update": "updated",
    "updated": "updated",
    "delete": "deleted",
    "deleted": "deleted",
    "archived": "archived",
}
_ENTITIES = {
    "issue": "issue",
    "work_item": "issue",
    "workitem": "issue",
    "cycle": "cycle",
    "module": "module",
    "project": "project",
    "issue_comment": "comment",
    "workitem.comment": "comment",
}


def signature_of(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """Whether ``signature`` matches ``body`` under any of ``secrets``.

    Every secret is compared in constant time and none is skipped early, so timing reveals
    neither the match nor which secret matched. A ``sha256=`` prefix is tolerated.
    """
    if not signature:
        return False
    candidate = signature.strip().lower().removeprefix("sha256=").encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(candidate, signature_of(body, secret).encode())
    return matched


@dataclass(frozen=True)
class WebhookEvent:
    """A delivery reduced to what Junction acts on."""

    entity: str  # issue | cycle | module | project | comment | other
    action: str  # created | updated | deleted | archived | other
    object_id: str | None
    data: Mapping[str, Any]
    version: str

    @property
    def dedupe_key(self) -> str:
        """Deliveries with the same key within the dedup window are processed once."""
        return f"{self.entity}:{self.action}:{self.object_id or '-'}"


class InvalidPayload(ValueError):
    """The body is not a Plane webhook payload; the message says what is missing."""


def parse(payload: Any) -> WebhookEvent:
    """Normalise a v1 or v2 payload."""
    if not isinstance(payload, Mapping):
        raise InvalidPayload("the body must be a JSON object")
    data = payload.get("data")
    data = data if isinstance(data, Mapping) else {}
    if payload.get("version") == "v2":
        event = str(payload.get("event") or "")
        entity_name, _, verb = event.rpartition(".")
        if not entity_name:
            raise InvalidPayload("a v2 payload needs an 'event' such as 'workitem.updated'")
        version = "v2"
        object_id = payload.get("entity_id") or data.get("id")
    else:
        entity_name, verb = str(payload.get("event") or ""), str(payload.get("action") or "")
        if not entity_name or not verb:
            raise InvalidPayload("a v1 payload needs 'event' and 'action'")
        version = "v1"
        object_id = data.get("id")
    return WebhookEvent(
        entity=_ENTITIES.get(entity_name.lower(), "other"),
        action=_ACTIONS.get(verb.lower(), "other"),
        object_id=str(object_id) if object_id else None,
        data=data,
        version=version,
    )


def cycle_of(event: WebhookEvent) -> str | None:
    """The cycle an event concerns: the cycle itself, or a work item's cycle when present."""
    if event.entity == "cycle":
        return event.object_id
    cycle = event.data.get("cycle_id") or event.data.get("cycle")
    if isinstance(cycle, Mapping):
        cycle = cycle.get("id")
    return str(cycle) if cycle else None


# -- receipt ------------------------------------------------------------------------------------


def receive(
    content_length: int | None,
    read_body: Callable[[], bytes],
    headers: Mapping[str, str],
    *,
    direct_loopback: bool,
) -> WebhookEvent:
    """Check and parse one delivery: its size (413), its signature (403), its payload (400).

    ``read_body`` is called only once the declared length is within the limit. Without a
    configured ``planning_webhook_secret`` unsigned deliveries are accepted from a direct
    loopback client only (``direct_loopback``: no proxy in between).
    """
    if (content_length or 0) > MAX_WEBHOOK_BYTES:
        raise JunctionError(
            f"Webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes.",
            status=413,
            code="PAYLOAD_TOO_LARGE",
        )
    body = read_body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise JunctionError("Webhook body too large.", status=413, code="PAYLOAD_TOO_LARGE")
    secrets = config.webhook_secrets()
    if secrets:
        signature = next((headers[h] for h in SIGNATURE_HEADERS if h in headers), None)
        if not verify(body, signature, secrets):
            log.warning("planning webhook rejected: bad or missing signature")
            raise Forbidden("Invalid webhook signature.", code="INVALID_SIGNATURE")
    elif not direct_loopback:
        # As the core's loopback guard: behind a proxy on the same host every sender arrives
        # from loopback, so a forwarded delivery is somebody else's and needs the signature.
        raise Forbidden(
            "No planning_webhook_secret is configured, so unsigned webhooks are accepted from "
            "loopback only. Configure the secret in Plane and in POST /api/planning/config.",
            code="WEBHOOK_SECRET_REQUIRED",
        )
    payload = parse_json(body)  # depth, size and encoding limits answer their own problems
    try:
        return parse(payload)
    except (ValueError, InvalidPayload) as exc:
        raise BadRequest(f"Not a Plane webhook payload: {exc}", code="INVALID_PAYLOAD") from exc


# -- handling -----------------------------------------------------------------------------------


def seen_recently(key: str, at: dt.datetime | None = None) -> bool:
    """Record ``key``; True when it was already processed within the dedup window.

    One conditional UPDATE (or an INSERT) decides, so two workers receiving the same delivery
    cannot both process it.
    """
    at = at or now()
    window_start = at - dt.timedelta(seconds=DEDUP_SECONDS)
    table = WebhookSeen.__table__
    updated = db.session.execute(
        sa.update(table)
        .where(table.c.key == key, table.c.last_seen_at < window_start)
        .values(last_seen_at=at)
    ).rowcount
    if updated:
        db.session.commit()
        return False
    try:
        db.session.execute(sa.insert(table).values(key=key[:200], last_seen_at=at))
        db.session.commit()
        return False
    except IntegrityError:
        db.session.rollback()
        return True


def handle_webhook(event: WebhookEvent) -> dict[str, Any]:
    """Act on a verified delivery; the seed's ``{"status", "action"}`` body.

    The re-import is left to a durable operation so Plane gets its answer at once.
    """
    if seen_recently(event.dedupe_key):
        return {"status": "ok", "action": "deduped"}
    projects = _projects_for_webhook(event)
    at = now()
    for project in projects:
        state = sync_state(project)
        state.last_webhook_at = at
        state.webhook_count += 1
    db.session.commit()
    if event.entity not in {"issue", "cycle"} or event.action not in {"created", "updated"}:
        return {"status": "ok", "action": "ignored"}
    targets = []
    for project in projects:
        active = config.effective(project).get("active_cycle_id")
        if not active:
            continue
        if event.entity == "cycle" and event.object_id != active:
            continue
        cycle = cycle_of(event)
        if event.entity == "issue" and cycle and cycle != active:
            continue
        targets.append((project, active))
    if not targets:
        return {"status": "ok", "action": "no_active_cycle"}
    for project, cycle_id in targets:
        operations.submit(
            IMPORT_KIND,
            {"project_name": project.name, "cycle_id": cycle_id},
            project=project.name,
            dedupe_key=f"{IMPORT_KIND}:{project.name}:{cycle_id}",
        )
    # Start the re-import now in this process (the leader's runner would otherwise pick it up
    # at its next tick, and nothing would without a scheduler); the answer does not wait.
    operations.runner_job()
    events.publish(
        "planning",
        "planning.webhook",
        {"entity": event.entity, "action": event.action, "object_id": event.object_id},
    )
    return {"status": "ok", "action": "processed"}


def _projects_for_webhook(event: WebhookEvent) -> list[Project]:
    """Projects whose configured Plane project matches the delivery (all linked ones if the
    payload does not say)."""
    plane_project = event.data.get("project") or event.data.get("project_id")
    if isinstance(plane_project, dict):
        plane_project = plane_project.get("id")
    result = []
    for project in db.session.scalars(sa.select(Project).order_by(Project.name)).all():
        values = config.effective(project)
        if not values.get("project_id"):
            continue
        if plane_project and values["project_id"] != plane_project:
            continue
        result.append(project)
    return result
