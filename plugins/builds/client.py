"""The webhook worker trigger: an HMAC-signed ``{"action": "drain"}`` POST, on ``app.http``.

Headers: ``X-Junction-Timestamp: <unix seconds>`` and ``X-Junction-Signature: sha256=<hex>``,
the HMAC-SHA256 (key: ``builds.webhook_secret``) of ``"<timestamp>." + raw body`` — as Stripe
signs, so a receiver can refuse replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from app.http import ServiceClient

SIGNATURE_HEADER = "X-Junction-Signature"
TIMESTAMP_HEADER = "X-Junction-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send_drain(url: str, secret: str | None, clock: Callable[[], float] = time.time) -> int:
    """POST the drain request to ``url``; the receiver's status. Raises ``app.http.HttpError``
    when it cannot be delivered or the receiver answers an error."""
    body = json.dumps({"action": "drain"}, separators=(",", ":")).encode()
    timestamp = str(int(clock()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    parts = urlsplit(url)
    client = ServiceClient(
        "builds-webhook",
        f"{parts.scheme}://{parts.netloc}",
        timeout=(5.0, 10.0),
        max_retries=1,
        max_elapsed=20.0,
        secrets=[secret] if secret else (),
    )
    try:
        response = client.post(url, data=body, headers=headers, idempotent=True)
        return response.status_code
    finally:
        client.close()
