"""Plane webhook deliveries: receipt (size limit, signature, parsing), dedup and re-import.

The route hands the raw delivery to :func:`receive` and the event to :func:`handle_webhook`.

Plane signs the raw body with HMAC-SHA256 (lowercase hex, no prefix) in ``X-Plane-Signature``;
the seed's ``X-Planning-Signature`` is accepted too. Several secrets may be configured at once so
a secret can be rotated without losing deliveries. CE sends v1 payloads (``event``/``action``,
``created`` or the pre-0.20 ``create`` spelling); the hosted edition sends v2 payloads
(``version: "v2"``, ``event: "workitem.updated"``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import Headers

from app import events, operations
from app.db import db, rowcount
from app.domain import Project
from app.errors import BadRequest, Forbidden, JunctionError
from app.jsonparse import parse_json
from plugins.planning import config
from plugins.planning.models import WebhookDelivery, WebhookSeen
from plugins.planning.service import IMPORT_KIND, extension, now, sync_state

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024
DEDUP_SECONDS = 5.0  # the same entity/action/id within this window: Plane's per-field bursts
DELIVERY_SECONDS = 24 * 3600.0  # the same X-Plane-Delivery id within this window: a replay
SEEN_RETENTION_SECONDS = 3600.0  # entity keys older than this are pruned
PRUNE_EVERY_SECONDS = 60.0  # how often one process prunes both tables
DELIVERY_HEADER = "X-Plane-Delivery"

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
    delivery_id: str | None = None  # Plane's X-Plane-Delivery (v2: also "delivery_id")

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
    headers: Headers | Mapping[str, str],
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
        event = parse(payload)
    except (ValueError, InvalidPayload) as exc:
        raise BadRequest(f"Not a Plane webhook payload: {exc}", code="INVALID_PAYLOAD") from exc
    delivery = headers.get(DELIVERY_HEADER) or payload.get("delivery_id")
    return dataclasses.replace(event, delivery_id=str(delivery) if delivery else None)


# -- handling -----------------------------------------------------------------------------------


def digest(value: str) -> str:
    """The fixed-length key a value is stored under: SHA-256, 64 hex characters."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _seen_within(
    key_column: sa.Column[str],
    time_column: sa.Column[dt.datetime],
    key: str,
    at: dt.datetime,
    seconds: float,
) -> bool:
    """Record ``key`` (a digest) at ``at``; True when it was recorded less than ``seconds`` ago.

    One conditional UPDATE (or an INSERT) decides, so two workers receiving the same delivery
    cannot both process it.
    """
    table = key_column.table
    window_start = at - dt.timedelta(seconds=seconds)
    updated = rowcount(
        db.session.execute(
            sa.update(table)
            .where(key_column == key, time_column < window_start)
            .values({time_column.name: at})
        )
    )
    if updated:
        db.session.commit()
        return False
    try:
        db.session.execute(sa.insert(table).values({key_column.name: key, time_column.name: at}))
        db.session.commit()
        return False
    except IntegrityError:
        db.session.rollback()
        return True


def seen_recently(key: str, at: dt.datetime | None = None) -> bool:
    """Record the event key; True when it was already processed within the dedup window.

    The full key is compared (stored as its digest), however long the object id is.
    """
    table = WebhookSeen.__table__
    return _seen_within(table.c.key, table.c.last_seen_at, digest(key), at or now(), DEDUP_SECONDS)


def delivery_seen(delivery_id: str, at: dt.datetime | None = None) -> bool:
    """Record a delivery id; True when the same delivery arrived within the last 24 hours.

    Plane gives every attempt a new ``X-Plane-Delivery``, so a second delivery with the same
    id is a replay of a captured request, not news.
    """
    table = WebhookDelivery.__table__
    return _seen_within(
        table.c.delivery_hash,
        table.c.received_at,
        digest(delivery_id),
        at or now(),
        DELIVERY_SECONDS,
    )


def prune(at: dt.datetime | None = None, *, force: bool = False) -> int:
    """Delete delivery ids older than 24 h and event keys older than an hour; rows deleted.

    Called with each delivery, it works at most once a minute per process (``force``: now).
    """
    at = at or now()
    state = extension()
    last = state.get("webhooks_pruned_at")
    if not force and last is not None and (at - last).total_seconds() < PRUNE_EVERY_SECONDS:
        return 0
    state["webhooks_pruned_at"] = at
    deliveries, seen = WebhookDelivery.__table__, WebhookSeen.__table__
    deleted = rowcount(
        db.session.execute(
            sa.delete(deliveries).where(
                deliveries.c.received_at < at - dt.timedelta(seconds=DELIVERY_SECONDS)
            )
        )
    )
    deleted += rowcount(
        db.session.execute(
            sa.delete(seen).where(
                seen.c.last_seen_at < at - dt.timedelta(seconds=SEEN_RETENTION_SECONDS)
            )
        )
    )
    db.session.commit()
    return deleted


def handle_webhook(event: WebhookEvent) -> dict[str, Any]:
    """Act on a verified delivery; the seed's ``{"status", "action"}`` body.

    A delivery id seen within 24 h (a replay) and the same entity/action/id within 5 s (Plane's
    one delivery per changed field) are ``deduped``. The re-import is left to a durable
    operation so Plane gets its answer at once.
    """
    at = now()
    prune(at)
    if event.delivery_id and delivery_seen(event.delivery_id, at):
        log.info("planning webhook: delivery %r replayed, not processed", event.delivery_id[:64])
        return {"status": "ok", "action": "deduped"}
    if seen_recently(event.dedupe_key, at):
        return {"status": "ok", "action": "deduped"}
    projects = _projects_for_webhook(event)
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
