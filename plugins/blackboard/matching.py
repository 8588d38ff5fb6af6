"""Who may see an artifact (visibility) and who wants it (subscriptions)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import jsonschema

from plugins.blackboard.spec import Subscription

log = logging.getLogger(__name__)

VISIBILITY_KINDS = ("public", "private", "labelled", "tenant")


def may_see(
    visibility: dict[str, Any], agent: str, labels: Sequence[str], tenant: str | None
) -> bool:
    """Whether agent ``agent`` (with ``labels`` and ``tenant``) may see an artifact."""
    kind = visibility.get("kind", "public")
    if kind == "public":
        return True
    if kind == "private":
        return agent in (visibility.get("agents") or [])
    if kind == "labelled":
        return set(visibility.get("labels") or []) <= set(labels)
    if kind == "tenant":
        return tenant is not None and tenant == visibility.get("tenant_id")
    return False  # an unknown kind is visible to nobody rather than to everybody


def _where_matches(
    where: Callable[[dict[str, Any]], bool] | dict[str, Any] | None, payload: dict[str, Any]
) -> bool:
    if where is None:
        return True
    if callable(where):
        try:
            return bool(where(payload))
        except Exception:  # a broken predicate must not break publishing
            log.warning("blackboard: a subscription predicate raised; not matching", exc_info=True)
            return False
    valid: bool = jsonschema.Draft202012Validator(where).is_valid(payload)
    return valid


def subscription_matches(sub: Subscription, artifact: dict[str, Any]) -> bool:
    """Whether ``sub`` wants ``artifact`` (type, producer, tags, predicate)."""
    if artifact["type"] not in sub.types:
        return False
    if sub.from_agents and artifact["produced_by"] not in sub.from_agents:
        return False
    if sub.tags and not set(sub.tags) & set(artifact.get("tags") or []):
        return False
    return _where_matches(sub.where, artifact.get("payload") or {})


def subscription_of(data: dict[str, Any]) -> Subscription:
    """A :class:`Subscription` from its stored JSON form (HTTP agents)."""
    return Subscription(
        types=tuple(data.get("types") or ()),
        from_agents=tuple(data.get("from_agents") or ()),
        tags=tuple(data.get("tags") or ()),
        where=data.get("where"),
    )
