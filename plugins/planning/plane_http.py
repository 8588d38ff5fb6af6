"""The HTTP side of the Plane client: one project's connection settings, and the rate budgets
that keep every worker inside Plane's 60 requests/minute per key.

The key's budget is shared by every worker (through Redis when configured); polling is held
near 14/minute and import bursts to at most 50/minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.http import RateLimit, ServiceClient

SERVICE = "plane"
PLANE_RATE_LIMIT = 60  # Plane's API_KEY_RATE_LIMIT default: 60 requests/minute per key
POLLING_SHARE = 14 / 60  # the seed's polling budget: ~14 of 60 requests a minute
IMPORT_SHARE = 50 / 60  # import bursts: at most 50 of 60, leaving room for polling


def budgets(limit_per_minute: int = PLANE_RATE_LIMIT) -> tuple[RateLimit, dict[str, RateLimit]]:
    """The key's budget and the ``polling``/``import`` buckets for a server limit of N/minute.

    A token bucket lets through at most ``burst + rate`` calls in any 60 s, so each budget is
    split that way to stay inside Plane's sliding window: for 60/minute the key gets 6 + 52
    (58, two spare for clock skew between workers), polling 2 + 12 (14) and imports 5 + 45 (50).
    """
    limit = max(1, int(limit_per_minute))
    key_burst = max(1, limit // 10)
    key = RateLimit(
        rate_per_minute=max(1, limit - key_burst - max(1, limit // 30)), burst=key_burst
    )
    poll_total, import_total = limit * POLLING_SHARE, limit * IMPORT_SHARE
    poll_burst, import_burst = max(1, round(limit / 30)), max(1, limit // 12)
    return key, {
        "polling": RateLimit(rate_per_minute=max(1.0, poll_total - poll_burst), burst=poll_burst),
        "import": RateLimit(
            rate_per_minute=max(1.0, import_total - import_burst), burst=import_burst
        ),
    }


KEY_BUDGET, BUCKETS = budgets()


@dataclass(frozen=True)
class PlaneConfig:
    """What the client needs to reach one Plane project."""

    api_url: str
    api_key: str
    workspace_slug: str
    project_id: str
    rate_limit_per_minute: int = PLANE_RATE_LIMIT


def build_http(config: PlaneConfig, **overrides: Any) -> ServiceClient:
    """The :class:`ServiceClient` for ``config``: the key's budget, timeouts and deadline.

    ``overrides`` replace any keyword (tests pass ``clock``, ``sleep``, ``limiter``,
    ``max_elapsed``...). Every client of the same key and host shares one budget, in this
    process or, with ``JUNCTION_REDIS_URL``, across workers and hosts.
    """
    key_budget, buckets = budgets(config.rate_limit_per_minute)
    options: dict[str, Any] = {
        "headers": {"X-API-Key": config.api_key},
        "timeout": (5.0, 30.0),
        "rate_limit": key_budget,
        "buckets": buckets,
        "max_elapsed": 180.0,
        **overrides,
    }
    return ServiceClient(SERVICE, config.api_url, **options)
