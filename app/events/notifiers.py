"""Notifiers carry wake-ups ``(channel, id)`` between processes: ``memory`` (in-process only,
other processes find events by polling), ``redis`` (pub/sub) or ``postgres`` (LISTEN/NOTIFY).

A wake-up never carries the event: subscribers read the log themselves, so a lost notification
delays an event (until the next low-rate poll) but never loses it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app

from app import redislink
from app.redislink import LinkHealth

log = logging.getLogger("app.events")


def notifier_kind(app: Flask | None = None) -> str:
    """The notifier in use: ``memory``, ``redis`` or ``postgres``.

    ``auto`` picks Redis when ``JUNCTION_REDIS_URL`` is set, else PostgreSQL NOTIFY when the
    database is PostgreSQL, else the in-process notifier.
    """
    app = app or current_app
    kind = app.config.get("JUNCTION_EVENTS_NOTIFIER") or "auto"
    if kind != "auto":
        return str(kind)
    if app.config.get("JUNCTION_REDIS_URL"):
        return "redis"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return "postgres"
    return "memory"


def redis_listen(
    url: str,
    channel: str,
    on_message: Callable[[bytes | str], None],
    on_connected: Callable[[], None],
    stop: threading.Event,
    health: LinkHealth | None = None,
) -> None:
    """Follow Redis pub/sub ``channel`` until ``stop`` is set, reconnecting with backoff.

    ``on_connected`` runs after each (re)subscription: the caller catches up on the log then.
    The idle subscription PINGs every ``HEALTH_CHECK_INTERVAL`` seconds; an unanswered PING
    (a silent cut) drops the connection after ``PONG_TIMEOUT`` more, and reconnecting retries
    at most every 2 s, so wake-ups resume within seconds of the link healing. ``health`` logs
    the loss once and the recovery once (the dispatcher polls the log meanwhile).
    """
    import redis

    health = health or LinkHealth(log, "events", "subscribers poll the event log meanwhile")
    backoff = 0.5
    while not stop.is_set():
        client = pubsub = None
        try:
            client = redis.Redis.from_url(url, **redislink.client_options(socket_timeout=10))
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
            pubsub.get_message(timeout=1.0)  # the subscribe confirmation: the link answers
            health.ok()
            on_connected()
            backoff = 0.5
            unanswered_since: float | None = None
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    on_message(message["data"])
                # redis-py sends the PINGs but never fails when their PONGs do not come back.
                if pubsub.health_check_response_counter > 0:
                    unanswered_since = unanswered_since or time.monotonic()
                    if time.monotonic() - unanswered_since > redislink.PONG_TIMEOUT:
                        raise ConnectionError("no answer to PING")
                else:
                    unanswered_since = None
        except Exception as exc:
            if not health.failed(exc):
                log.debug("events: Redis listener still failing (%s)", exc)
            stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)
        finally:
            for closeable in (pubsub, client):
                if closeable is not None:
                    # Closing a broken connection may fail too.
                    with contextlib.suppress(Exception):
                        closeable.close()


def pg_listen(
    conninfo: str,
    channel: str,
    on_message: Callable[[bytes | str], None],
    on_connected: Callable[[], None],
    stop: threading.Event,
) -> None:
    """``LISTEN`` on PostgreSQL ``channel`` until ``stop`` is set, reconnecting with backoff."""
    import psycopg

    backoff = 0.5
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'LISTEN "{channel}"')
                on_connected()
                backoff = 0.5
                while not stop.is_set():
                    for notice in conn.notifies(timeout=1.0):
                        on_message(notice.payload)
        except Exception as exc:
            log.warning("events: PostgreSQL listener error (%s); retrying", exc)
            stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
