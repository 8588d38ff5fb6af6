"""Live log tail: lines appended while a build runs, replayed from a line offset and followed.

Appended lines are stored as numbered chunks (``builds_log_chunks``) and announced on the core
event channel of their build (:func:`channel`). A follower subscribes to the channel *before*
reading the stored chunks, so a chunk appended in between arrives as an event and is not lost;
lines already sent are skipped by number. When the build's whole log is stored
(``POST /api/builds/logs``) a ``builds.log.complete`` event ends the stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import events
from app.db import db
from app.errors import ValidationFailed
from plugins.builds.models import BuildLog, LogChunk
from plugins.builds.names import normalize_name, normalize_version

MAX_APPEND_LINES = 10_000
MAX_LINE_CHARS = 8192


def channel(name: str, version: str) -> str:
    """The event channel of one build's live log (versions may hold characters channels may
    not, hence the digest)."""
    digest = hashlib.sha256(f"{name}=={version}".encode()).hexdigest()[:24]
    return f"builds:log:{digest}"


def append(name: str, version: str, text: str) -> dict[str, Any]:
    """Append the lines of ``text`` to the live log; return ``{first_line, count}``."""
    name, version = normalize_name(name), normalize_version(version)
    lines = [line[:MAX_LINE_CHARS] for line in text.splitlines()]
    if len(lines) > MAX_APPEND_LINES:
        raise ValidationFailed(
            f"Append at most {MAX_APPEND_LINES} lines at a time.", code="BUILDS_TOO_MANY_LINES"
        )
    if not lines:
        return {
            "name": name,
            "version": version,
            "first_line": _next_line(name, version),
            "count": 0,
        }
    for _attempt in range(5):
        first = _next_line(name, version)
        try:
            with db.session.begin_nested():
                db.session.add(LogChunk(name=name, version=version, first_line=first, lines=lines))
            db.session.commit()
            break
        except IntegrityError:  # another appender took that line number: number again
            db.session.rollback()
    else:
        raise ValidationFailed(
            "The log is being appended too concurrently; retry.",
            code="BUILDS_APPEND_CONFLICT",
            status=409,
            retryable=True,
        )
    events.publish(
        channel(name, version), "builds.log.lines", {"first_line": first, "lines": lines}
    )
    return {"name": name, "version": version, "first_line": first, "count": len(lines)}


def _next_line(name: str, version: str) -> int:
    last = db.session.execute(
        sa.select(LogChunk.first_line, LogChunk.lines)
        .where(LogChunk.name == name, LogChunk.version == version)
        .order_by(LogChunk.first_line.desc())
        .limit(1)
    ).first()
    return 0 if last is None else last[0] + len(last[1])


def publish_complete(name: str, version: str, log_id: int) -> None:
    """Tell followers that the build's whole log is stored (their stream ends)."""
    events.publish(channel(name, version), "builds.log.complete", {"log_id": log_id})


def _stored(name: str, version: str, offset: int) -> list[tuple[int, list[str]]]:
    rows = db.session.execute(
        sa.select(LogChunk.first_line, LogChunk.lines)
        .where(LogChunk.name == name, LogChunk.version == version)
        .order_by(LogChunk.first_line)
    ).all()
    return [(first, lines) for first, lines in rows if first + len(lines) > offset]


def normalized(name: str, version: str) -> tuple[str, str]:
    """``(name, version)`` in normal form; 422 before any stream starts when invalid."""
    return normalize_name(name), normalize_version(version)


def last_lines(name: str, version: str, count: int) -> list[tuple[int, str]]:
    """The last ``count`` stored lines of a build's live log as ``(number, text)``, oldest
    first (``name`` and ``version`` normalised)."""
    rows = db.session.execute(
        sa.select(LogChunk.first_line, LogChunk.lines)
        .where(LogChunk.name == name, LogChunk.version == version)
        .order_by(LogChunk.first_line.desc())
    )
    picked: list[tuple[int, str]] = []
    for first, lines in rows:
        numbered = list(enumerate(lines, start=first))
        picked[:0] = numbered[-(count - len(picked)) :]
        if len(picked) >= count:
            break
    return picked


def completed_log(name: str, version: str) -> int | None:
    """The id of the whole log stored after the last appended chunk (the build is over)."""
    last_chunk = db.session.scalar(
        sa.select(sa.func.max(LogChunk.created_at)).where(
            LogChunk.name == name, LogChunk.version == version
        )
    )
    query = sa.select(BuildLog.id).where(BuildLog.name == name, BuildLog.version == version)
    if last_chunk is not None:
        query = query.where(BuildLog.timestamp >= last_chunk)
    return db.session.scalar(query.order_by(BuildLog.id.desc()).limit(1))


def follow(
    name: str, version: str, offset: int, *, heartbeat: float, stop_when_complete: bool = True
) -> Iterator[dict[str, Any] | None]:
    """Yield ``{"type": "lines", "first_line", "lines"}`` from line ``offset`` on, then live
    ones; ``{"type": "complete"}`` when the whole log is stored; ``None`` after ``heartbeat``
    quiet seconds. Needs an app context for as long as it runs. ``name`` and ``version`` are
    normalised already (:func:`normalized`), so nothing is validated once streaming."""
    sub = events.subscribe([channel(name, version)], events.head_id())
    try:
        sent = offset
        for first, lines in _stored(name, version, offset):
            chunk = lines[max(0, sent - first) :]
            yield {"type": "lines", "first_line": max(first, sent), "lines": chunk}
            sent = first + len(lines)
        stored_log = completed_log(name, version)
        db.session.remove()  # no transaction held open while following
        if stored_log is not None:
            yield {"type": "complete", "log_id": stored_log, "next_line": sent}
            if stop_when_complete:
                return
        while not sub.closed:
            items = sub.get_items(timeout=heartbeat)
            if not items:
                yield None
                continue
            for item in items:
                if not isinstance(item, events.LogEvent):
                    # The queue overflowed: the stored chunks hold every line, read them again.
                    for first, lines in _stored(name, version, sent):
                        yield {
                            "type": "lines",
                            "first_line": max(first, sent),
                            "lines": lines[max(0, sent - first) :],
                        }
                        sent = first + len(lines)
                    db.session.remove()
                    continue
                if item.type == "builds.log.complete":
                    yield {"type": "complete", "log_id": item.data.get("log_id"), "next_line": sent}
                    if stop_when_complete:
                        return
                    continue
                first, lines = item.data["first_line"], item.data["lines"]
                if first + len(lines) <= sent:
                    continue
                chunk = lines[max(0, sent - first) :]
                yield {"type": "lines", "first_line": max(first, sent), "lines": chunk}
                sent = first + len(lines)
    finally:
        sub.close()
