"""Redis client options and URLs without credentials.

The options are the core's (``app.redislink.client_options``: TCP keepalives,
``TCP_USER_TIMEOUT``, health checks) where the core has them; an equivalent set otherwise.
"""

from __future__ import annotations

import socket
from typing import Any

SOCKET_TIMEOUT = 5.0


def _fallback_options(socket_timeout: float) -> dict[str, Any]:
    options: dict[int, int] = {}
    for name, value in (
        ("TCP_KEEPIDLE", 5),
        ("TCP_KEEPINTVL", 2),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", 8000),
    ):
        constant = getattr(socket, name, None)
        if constant is not None:
            options[constant] = value
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "socket_keepalive_options": options,
        "health_check_interval": 30,
    }


def client_options(socket_timeout: float = SOCKET_TIMEOUT) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url``: a dead link is noticed in seconds."""
    try:
        from app.redislink import client_options as core_options
    except ImportError:
        return _fallback_options(socket_timeout)
    return core_options(socket_timeout=socket_timeout, health_check_interval=30)
