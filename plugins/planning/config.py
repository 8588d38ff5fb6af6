"""The plugin's settings: declaration, the seed's field names, and the effective config.

Shared settings (``api_url``, ``api_key``, ``workspace_slug``, ``webhook_secret``) are global;
per-project settings (``project_id``, ``active_cycle_id``, ``sync_enabled``, ``poll_interval``)
may be set globally too, which is the fallback for a project without its own value — the
seed's *Per-Project Configuratie*. The API speaks the seed's ``planning_``-prefixed names.
"""

from __future__ import annotations

from typing import Any

from app import settings
from app.domain.models import Project
from app.errors import BadRequest, ValidationFailed, field_error
from plugins.planning.plane_errors import PlaneError
from plugins.planning.plane_http import PlaneConfig

NAMESPACE = "planning"
API_PREFIX = "planning_"
SHARED = ("api_url", "api_key", "workspace_slug", "webhook_secret", "rate_limit_per_minute")
PER_PROJECT = ("project_id", "active_cycle_id", "sync_enabled", "poll_interval")
SECRETS = ("api_key", "webhook_secret")
MIN_POLL_INTERVAL = 10

DECLARATION: dict[str, Any] = {
    "namespace": NAMESPACE,
    "fields": {
        "api_url": {
            "type": "str",
            "default": "",
            "scope": "global",
            "help": "Base URL of MQ Planning (Plane), e.g. https://plane.example.com",
        },
        "api_key": {
            "type": "str",
            "secret": True,
            "scope": "global",
            "help": "Plane API key (X-API-Key). Changing planning_api_url needs the key again.",
            "bound_to": ["api_url"],
        },
        "workspace_slug": {
            "type": "str",
            "default": "",
            "scope": "global",
            "help": "Workspace slug in Plane URLs.",
        },
        "webhook_secret": {
            "type": "str",
            "secret": True,
            "scope": "global",
            "help": "Webhook signing secret; several, comma-separated, during a rotation. "
            "Changing planning_api_url needs it again.",
            "bound_to": ["api_url"],
        },
        "rate_limit_per_minute": {
            "type": "int",
            "default": 60,
            "min": 1,
            "max": 100000,
            "scope": "global",
            "help": "Plane's request limit per API key and minute (API_KEY_RATE_LIMIT; 60 by "
            "default, 300 for service tokens). Junction keeps polling near 14/60 and imports "
            "at 50/60 of it.",
        },
        "project_id": {
            "type": "str",
            "default": "",
            "scope": "both",
            "help": "Plane project UUID.",
        },
        "active_cycle_id": {
            "type": "str",
            "scope": "both",
            "help": "Cycle the sync loop and webhooks re-import.",
        },
        "sync_enabled": {
            "type": "bool",
            "default": False,
            "scope": "both",
            "help": "Poll Plane in the background.",
        },
        "poll_interval": {
            "type": "int",
            "default": 30,
            "min": MIN_POLL_INTERVAL,
            "max": 86400,
            "scope": "both",
            "help": "Seconds between polls of the active cycle.",
        },
    },
}


def public_config(project: Project | None) -> dict[str, Any]:
    """The seed's ``GET /api/planning/config`` body (secrets masked)."""
    view = settings.public_view(NAMESPACE, project.id if project else None)
    out: dict[str, Any] = {}
    for key in (*SHARED, *PER_PROJECT):
        if key in SECRETS:
            out[f"{API_PREFIX}{key}_set"] = view[f"{key}_set"]
            if key == "api_key":
                out[f"{API_PREFIX}{key}_masked"] = view[f"{key}_masked"]
        else:
            out[f"{API_PREFIX}{key}"] = view[key]
    if project is not None:
        out["project_name"] = project.name
    return out


def update_config(values: dict[str, Any], project: Project | None) -> dict[str, Any]:
    """Store the given ``planning_*`` values: shared ones globally, per-project ones for
    ``project`` when given (else globally)."""
    shared: dict[str, Any] = {}
    scoped: dict[str, Any] = {}
    for api_name, value in values.items():
        key = api_name.removeprefix(API_PREFIX)
        if key == "api_url" and isinstance(value, str):
            value = value.strip().rstrip("/")
            if value and not value.startswith(("http://", "https://")):
                raise ValidationFailed(
                    "planning_api_url must start with http:// or https://.",
                    errors=[field_error(api_name, "Not an http(s) URL.")],
                )
        (shared if key in SHARED else scoped)[key] = value
    if shared:
        settings.set_values(NAMESPACE, shared)
    if scoped:
        settings.set_values(NAMESPACE, scoped, project.id if project else None)
    return public_config(project)


def effective(project: Project | None) -> dict[str, Any]:
    """Every value in clear, with per-project fallback (server-side use only)."""
    return settings.get_all(NAMESPACE, project.id if project else None)


def plane_config(project: Project | None) -> PlaneConfig:
    """The client configuration, or the seed's error: 401 without an API key, 400 naming the
    other settings that are missing."""
    values = effective(project)
    if not values.get("api_key"):
        raise PlaneError(
            "The MQ Planning API key is not configured: set planning_api_key with "
            "POST /api/planning/config.",
            status=401,
            code="PLANNING_AUTH",
        )
    missing = [
        f"{API_PREFIX}{key}"
        for key in ("api_url", "workspace_slug", "project_id")
        if not values.get(key)
    ]
    if missing:
        raise BadRequest(
            "MQ Planning is not configured: set "
            + ", ".join(missing)
            + " with POST /api/planning/config.",
            code="PLANNING_NOT_CONFIGURED",
        )
    return PlaneConfig(
        api_url=values["api_url"],
        api_key=values["api_key"],
        workspace_slug=values["workspace_slug"],
        project_id=values["project_id"],
        rate_limit_per_minute=int(values.get("rate_limit_per_minute") or 60),
    )


def webhook_secrets() -> list[str]:
    """Every configured webhook secret (more than one while rotating)."""
    raw = settings.get(NAMESPACE, "webhook_secret") or ""
    return [part.strip() for part in raw.split(",") if part.strip()]
