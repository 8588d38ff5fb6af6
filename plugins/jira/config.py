"""The plugin's settings (core settings service, namespace ``jira``) and the effective config.

Every field may be set globally and overridden per project (``scope: both``). The API token is
a secret bound to the site URL: change the URL and the token must be given again, so a token is
never sent to a site it was not entered for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import settings
from app.domain.models import Project
from app.errors import BadRequest, ValidationFailed, field_error

NAMESPACE = "jira"
DEFAULT_PACING_SECONDS = 1.5
DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024

DECLARATION: dict[str, Any] = {
    "namespace": NAMESPACE,
    "fields": {
        "site_url": {
            "type": "str",
            "default": "",
            "help": "Jira Cloud site, e.g. https://your-domain.atlassian.net",
        },
        "email": {"type": "str", "default": "", "help": "Atlassian account e-mail (Basic auth)."},
        "api_token": {
            "type": "str",
            "secret": True,
            "bound_to": ["site_url"],
            "help": "Atlassian API token. Changing site_url needs it again.",
        },
        "default_project_key": {
            "type": "str",
            "default": "",
            "help": "Jira project key used when a session names none.",
        },
        "pacing": {
            "type": "str",
            "default": "fixed",
            "choices": ["fixed", "adaptive"],
            "help": "fixed: wait pacing_seconds after each ticket (the seed's 1.5 s); adaptive: "
            "no fixed wait, follow Retry-After and X-RateLimit-* with backoff and jitter.",
        },
        "pacing_seconds": {
            "type": "float",
            "default": DEFAULT_PACING_SECONDS,
            "min": 0,
            "max": 60,
            "help": "Seconds between tickets with fixed pacing (0 allowed).",
        },
        "attachment_max_bytes": {
            "type": "int",
            "default": DEFAULT_ATTACHMENT_MAX_BYTES,
            "min": 1,
            "max": 1024 * 1024 * 1024,
            "help": "Largest attachment accepted for upload (bytes).",
        },
    },
}
PUBLIC_KEYS = (
    "site_url",
    "email",
    "default_project_key",
    "pacing",
    "pacing_seconds",
    "attachment_max_bytes",
)


@dataclass(frozen=True)
class JiraConfig:
    """What the client and the exporter need for one Jira site."""

    site_url: str
    email: str
    api_token: str
    default_project_key: str = ""
    pacing: str = "fixed"
    pacing_seconds: float = DEFAULT_PACING_SECONDS
    attachment_max_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES


def public_config(project: Project | None) -> dict[str, Any]:
    """The configuration as the API shows it (the token masked, never in clear)."""
    view = settings.public_view(NAMESPACE, project.id if project else None)
    out = {key: view[key] for key in PUBLIC_KEYS}
    out["api_token_set"] = view["api_token_set"]
    out["api_token_masked"] = view["api_token_masked"]
    out["project_name"] = project.name if project else None
    return out


def update_config(values: dict[str, Any], project: Project | None) -> dict[str, Any]:
    """Store ``values`` for ``project`` (or globally); the site URL is normalised first."""
    url = values.get("site_url")
    if isinstance(url, str):
        url = url.strip().rstrip("/")
        if url and not url.startswith(("http://", "https://")):
            raise ValidationFailed(
                "site_url must start with https:// (or http:// for a local test site).",
                errors=[field_error("site_url", "Not an http(s) URL.")],
            )
        values["site_url"] = url
    settings.set_values(NAMESPACE, values, project.id if project else None)
    return public_config(project)


def effective(project: Project | int | None) -> dict[str, Any]:
    """Every value in clear with per-project fallback (server side only)."""
    ref = project.id if isinstance(project, Project) else project
    return settings.get_all(NAMESPACE, ref)


def jira_config(project: Project | int | None) -> JiraConfig:
    """The connection settings, or a 400 naming each missing one."""
    values = effective(project)
    missing = [key for key in ("site_url", "email", "api_token") if not values.get(key)]
    if missing:
        raise BadRequest(
            "Jira is not configured: set " + ", ".join(missing) + " with POST /api/jira/config.",
            code="JIRA_NOT_CONFIGURED",
            errors=[field_error(key, "Not set.", "required") for key in missing],
        )
    return JiraConfig(
        site_url=values["site_url"],
        email=values["email"],
        api_token=values["api_token"],
        default_project_key=values.get("default_project_key") or "",
        pacing=values.get("pacing") or "fixed",
        pacing_seconds=float(values.get("pacing_seconds") or 0.0),
        attachment_max_bytes=int(values.get("attachment_max_bytes") or 1),
    )
