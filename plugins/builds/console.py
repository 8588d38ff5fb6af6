"""The builds panel of the web console (``/console/builds/``).

The queue (its items and its stats, with the backend serving them), the recent builds, the
recent failures with the hints they matched (pattern, recipes, note), the top failures and
the slowest builds, a live tail of one build's log and a log search. The tail shows the build
picked with ``?tail=<name>==<version>`` (else the build whose log was appended last) and the
page follows that build's channel (:func:`plugins.builds.logtail.channel`), so each appended
chunk re-renders it. The search (``?q=``) is a GET form over the same full-text search as
``GET /api/builds/logs/search``; its snippets come back as text and ``<mark>`` pieces that the
template escapes, never as markup. Everything reads the plugin's own services.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import request

from app.db import db
from app.errors import JunctionError
from plugins.builds import hints, history, logs, logtail, queue
from plugins.builds.models import LogChunk

CHANNELS = ("operations",)  # a drain (the local worker trigger) starting or ending
QUEUE_SHOWN = 25
RECENT_SHOWN = 15
FAILURES_SHOWN = 10
TOP_SHOWN = 10
TAIL_LINES = 200
SEARCH_LIMIT = 20
MAX_QUERY_CHARS = 200
MAX_TAIL_CHARS = 320
STATUS_CLASS = {
    "built": "succeeded",
    "reused": "succeeded",
    "building": "running",
    "queued": "pending",
    "skipped": "cancelled",
    "failed": "failed",
    "timeout": "failed",
}
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def _queue() -> dict[str, Any]:
    """The queue's items and stats; a backend that does not answer is a message, not a 500."""
    try:
        return {
            "stats": queue.stats(),
            "listing": queue.list_items(QUEUE_SHOWN, 0),
            "error": None,
        }
    except JunctionError as exc:
        return {"stats": None, "listing": None, "error": exc.detail}


def _with_hints(events: list[dict[str, Any]], by_id: dict[int, dict[str, Any]]) -> None:
    """Attach the matched hints (the ones still stored) to each event."""
    for event in events:
        event["status_class"] = STATUS_CLASS.get(event["status"], "pending")
        event["hints"] = [by_id[i] for i in event["matched_hint_ids"] if i in by_id]


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def snippet_parts(snippet: str) -> list[tuple[bool, str]]:
    """The service's snippet (escaped text with ``<mark>`` tags) as ``(marked, plain text)``
    pieces, so the template escapes every piece itself and adds the ``<mark>`` tags."""
    parts: list[tuple[bool, str]] = []
    for i, outer in enumerate(snippet.split("<mark>")):
        marked, _, rest = outer.partition("</mark>") if i else ("", "", outer)
        if marked:
            parts.append((True, _unescape(marked)))
        if rest:
            parts.append((False, _unescape(rest)))
    return parts


def _search(q: str) -> dict[str, Any] | None:
    """The log search for ``q`` (``None`` when no query); a bad query is a message."""
    if not q:
        return None
    if len(q) > MAX_QUERY_CHARS:
        return {"query": q, "error": f"Search for at most {MAX_QUERY_CHARS} characters."}
    try:
        found = logs.search(q, SEARCH_LIMIT)
    except JunctionError as exc:
        return {"query": q, "error": exc.detail}
    items = [{**item, "parts": snippet_parts(item.pop("snippet"))} for item in found["items"]]
    return {"query": q, "items": items, "error": None}


def _last_build() -> tuple[str, str] | None:
    """The build whose live log was appended last."""
    row = db.session.execute(
        sa.select(LogChunk.name, LogChunk.version).order_by(LogChunk.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _tail(picked: str) -> dict[str, Any] | None:
    """The last :data:`TAIL_LINES` lines of the picked (or latest) build's live log."""
    if picked:
        name, sep, version = picked[:MAX_TAIL_CHARS].partition("==")
        if not sep:
            return {"picked": picked, "error": "Pick a build as name==version."}
        try:
            name, version = logtail.normalized(name, version)
        except JunctionError as exc:
            return {"picked": picked, "error": exc.detail}
    else:
        latest = _last_build()
        if latest is None:
            return None
        name, version = latest
    lines = logtail.last_lines(name, version, TAIL_LINES)
    return {
        "name": name,
        "version": version,
        "lines": lines,
        "complete": logtail.completed_log(name, version) is not None,
        "channel": logtail.channel(name, version),
        "error": None,
    }


def panel_context() -> dict[str, Any]:
    """Queue, recent builds and failures with hints, tops, the log tail and the search."""
    by_id = {h["id"]: h for h in hints.list_hints()}
    recent = history.history({"limit": RECENT_SHOWN, "offset": 0})
    failures = history.failures(None, FAILURES_SHOWN, 0)
    _with_hints(recent["items"], by_id)
    _with_hints(failures["items"], by_id)
    slowest = history.top_slowest(TOP_SHOWN)
    _with_hints(slowest, by_id)
    tail = _tail((request.args.get("tail") or "").strip())
    follow = [tail["channel"]] if tail and not tail["error"] else []
    return {
        "queue": _queue(),
        "recent": recent,
        "failures": failures,
        "top_failures": history.top_failures(TOP_SHOWN),
        "top_slowest": slowest,
        "tail": tail,
        "search": _search((request.args.get("q") or "").strip()),
        "console_channels": follow,
    }
