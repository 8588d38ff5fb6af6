"""Notifiers carry wake-ups ``(channel, id)`` between processes: ``memory`` (in-process only,
other processes find events by polling), ``local`` (Unix datagram sockets between the processes
of one machine, for SQLite), ``redis`` (pub/sub) or ``postgres`` (LISTEN/NOTIFY).

A wake-up never carries the event: subscribers read the log themselves, so a lost notification
delays an event (until the next low-rate poll) but never loses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app

from app import redislink
from app.redislink import LinkHealth

log = logging.getLogger("app.events")


def notifier_kind(app: Flask | None = None) -> str:
    """The notifier in use: ``memory``, ``local``, ``redis`` or ``postgres``.

    ``auto`` picks Redis when ``JUNCTION_REDIS_URL`` is set, else PostgreSQL NOTIFY when the
    database is PostgreSQL, else the local sockets (SQLite: every process sharing the database
    file is on this machine).
    """
    app = app or current_app
    kind = app.config.get("JUNCTION_EVENTS_NOTIFIER") or "auto"
    if kind != "auto":
        return str(kind)
    if app.config.get("JUNCTION_REDIS_URL"):
        return "redis"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return "postgres"
    return "local"


# -- local: Unix datagram sockets ----------------------------------------------------------------

#: Datagrams bigger than this are not sent (a notification of a big event is ``id channel``).
LOCAL_DATAGRAM_LIMIT = 64 * 1024


def local_folder(database_uri: str) -> Path:
    """Where the listening processes of one database keep their sockets: a private folder per
    database (socket paths must stay under ~100 bytes, so not under the instance folder)."""
    digest = hashlib.sha256(database_uri.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"junction-events-{os.getuid()}-{digest}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def local_notify(folder: Path, payload: str, own: Path | None) -> None:
    """Send ``payload`` to every other listening process of the folder, at once and without
    waiting; a socket nobody listens on any more (its process died) is removed."""
    data = payload.encode()
    if len(data) > LOCAL_DATAGRAM_LIMIT:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in folder.glob("*.sock"):
            if path == own:
                continue
            try:
                sender.sendto(data, str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()
            except OSError:  # a full receive buffer: that listener catches up from the log
                continue


def local_listen(
    folder: Path,
    on_message: Callable[[bytes | str], None],
    on_connected: Callable[[], None],
    stop: threading.Event,
    bound: Callable[[Path | None], None],
) -> None:
    """Receive wake-ups on a socket of this process in ``folder`` until ``stop`` is set;
    ``bound`` is told its path (and ``None`` when it is gone)."""
    path = folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
            receiver.bind(str(path))
            receiver.settimeout(0.5)
            bound(path)
            on_connected()
            while not stop.is_set():
                try:
                    on_message(receiver.recv(LOCAL_DATAGRAM_LIMIT))
                except TimeoutError:
                    continue
    except OSError as exc:
        log.warning("events: local wake-up socket failed (%s); subscribers poll the log", exc)
    finally:
        bound(None)
        with contextlib.suppress(OSError):
            path.unlink()


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
