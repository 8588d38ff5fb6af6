"""Plane webhook deliveries: signature verification and payload normalisation.

Plane signs the raw body with HMAC-SHA256 (lowercase hex, no prefix) in ``X-Plane-Signature``;
the seed's ``X-Planning-Signature`` is accepted too. Several secrets may be configured at once so
a secret can be rotated without losing deliveries. CE sends v1 payloads (``event``/``action``,
``created`` or the pre-0.20 ``create`` spelling); the hosted edition sends v2 payloads
(``version: "v2"``, ``event: "workitem.updated"``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
