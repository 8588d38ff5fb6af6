"""Scheduled jobs. The scheduler calls them inside an app context, on the leader only."""

from __future__ import annotations

import logging

from hello_plugin import service

log = logging.getLogger(__name__)


def deliver_greetings() -> int:
    """Deliver pending greetings; return how many (the scheduler records the result)."""
    delivered = service.deliver_pending()
    if delivered:
        log.info("delivered %d greeting(s)", delivered)
    return delivered
