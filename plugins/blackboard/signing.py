"""Signing what Junction sends to HTTP agents: HMAC-SHA256 over ``<timestamp>.<body>``.

Header ``X-Junction-Signature: t=<unix seconds>,v1=<hex>`` (Stripe's scheme: the timestamp is
signed with the body, so a captured delivery cannot be replayed later than the tolerance), and
``X-Junction-Timestamp: <unix seconds>`` for convenience. Agents verify with :func:`verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Junction-Signature"
TIMESTAMP_HEADER = "X-Junction-Timestamp"
DELIVERY_HEADER = "X-Junction-Delivery"
DEFAULT_TOLERANCE = 300


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The signature headers for ``body``."""
    moment = int(time.time() if timestamp is None else timestamp)
    return {
        SIGNATURE_HEADER: f"t={moment},v1={sign(secret, body, moment)}",
        TIMESTAMP_HEADER: str(moment),
    }


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of now.

    Constant-time comparison; any ``v1`` may match (secret rotation).
    """
    if not header:
        return False
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not candidates or not stamps[0].strip().isdigit():
        return False
    timestamp = int(stamps[0])
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
