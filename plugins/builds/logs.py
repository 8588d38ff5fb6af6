"""Build logs: stored zlib-compressed and size-limited, full-text indexed, searched.

The search index is per database: PostgreSQL keeps a ``tsvector`` per log in
``builds_log_search`` (GIN index, English stemming, ``websearch_to_tsquery`` syntax); SQLite an
FTS5 table ``builds_log_fts`` (Porter stemming). Neither is a mapped model: their shapes differ,
so :mod:`plugins.builds.migrations` creates them and this module alone reads and writes them.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from app.db import db, is_sqlite, utcnow
from app.errors import NotFound, ValidationFailed
from plugins.builds import hints, history, logtail, metrics
from plugins.builds.config import option
from plugins.builds.logstore import newest_log, text_of
from plugins.builds.models import BuildLog
from plugins.builds.names import FAILED_STATUSES, normalize_name, normalize_version

DEFAULT_MAX_LOG_BYTES = 5 * 1024 * 1024
# PostgreSQL refuses a tsvector over 1 MB: the head and the tail of a log are indexed.
INDEX_HEAD = 128 * 1024
INDEX_TAIL = 256 * 1024
SNIPPET_RADIUS = 80
_SEPARATORS = str.maketrans({c: " " for c in "/\\._-:"})


def max_log_bytes() -> int:
    """The stored size limit of one log (setting ``builds.max_log_bytes``)."""
    return int(option("max_log_bytes") or DEFAULT_MAX_LOG_BYTES)


def limit_text(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to about ``limit`` UTF-8 bytes, keeping a quarter head and the tail (where
    the failing error is); whether anything was cut."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return text, False
    head, tail = raw[: limit // 4], raw[-(limit - limit // 4) :]
    cut = len(raw) - len(head) - len(tail)
    marker = f"\n[... {cut} bytes cut by Junction's log size limit ...]\n"
    return head.decode("utf-8", "ignore") + marker + tail.decode("utf-8", "ignore"), True


def _indexed_text(text: str) -> str:
    if len(text) <= INDEX_HEAD + INDEX_TAIL:
        return text
    return text[:INDEX_HEAD] + "\n" + text[-INDEX_TAIL:]


def store(body: Mapping[str, Any]) -> dict[str, Any]:
    """Store one log (``name, version, content, timestamp?, run_id?``); index it; match hints
    against it when its version's latest event failed."""
    name, version = normalize_name(body["name"]), normalize_version(body["version"])
    text, truncated = limit_text(body["content"], max_log_bytes())
    log = BuildLog(
        name=name,
        version=version,
        run_id=body.get("run_id"),
        content=zlib.compress(text.encode("utf-8"), 6),
        size_bytes=len(text.encode("utf-8")),
        truncated=truncated,
        timestamp=body.get("timestamp") or utcnow(),
    )
    db.session.add(log)
    db.session.flush()
    _index(log.id, _indexed_text(text))
    db.session.commit()
    metrics.LOGS.inc()
    metrics.LOG_BYTES.inc(log.size_bytes)
    latest = history.latest_event(name, version)
    if latest is not None and latest.status in FAILED_STATUSES:
        hints.match_event(latest, text)
    logtail.publish_complete(name, version, log.id)
    return log_meta(log)


def _index(log_id: int, text: str) -> None:
    if is_sqlite():
        db.session.execute(
            sa.text("INSERT INTO builds_log_fts (rowid, body) VALUES (:id, :body)"),
            {"id": log_id, "body": text},
        )
    else:
        body = text.replace("\x00", "")
        db.session.execute(
            sa.text(
                "INSERT INTO builds_log_search (log_id, tsv) VALUES (:id, "
                "to_tsvector('english', :body) || to_tsvector('english', :split))"
            ),
            # PostgreSQL's parser keeps /usr/bin/gcc or xmlversion.h as one "file" token, so
            # a search for gcc would miss it: the text is indexed once more with path and
            # dotted names split (versions such as 1.26.0 stay findable from the first copy).
            {"id": log_id, "body": body, "split": body.translate(_SEPARATORS)},
        )


def log_meta(log: BuildLog) -> dict[str, Any]:
    """A log's metadata (no content)."""
    return {
        "id": log.id,
        "name": log.name,
        "version": log.version,
        "run_id": log.run_id,
        "size_bytes": log.size_bytes,
        "compressed_bytes": len(log.content),
        "truncated": log.truncated,
        "timestamp": log.timestamp,
    }


def latest_log(name: str, version: str) -> dict[str, Any]:
    """The newest log of ``name==version`` with its content; 404 when there is none."""
    name, version = normalize_name(name), normalize_version(version)
    log = newest_log(name, version)
    if log is None:
        raise NotFound(f"No log for {name}=={version}.", code="BUILDS_LOG_NOT_FOUND")
    return {**log_meta(log), "content": text_of(log)}


# -- search --------------------------------------------------------------------------------------

_QUERY_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')


def _terms(q: str) -> list[tuple[bool, str]]:
    """``(negated, phrase-or-word)`` pairs of a websearch-style query (``"a b" -c or d``)."""
    terms = []
    for neg, phrase, word in _QUERY_TOKEN.findall(q):
        if phrase:
            terms.append((bool(neg), phrase))
        elif word.lower() == "or":
            terms.append((False, "OR"))
        else:
            negated = word.startswith("-") and len(word) > 1
            terms.append((negated, word[1:] if negated else word))
    return terms


def fts5_query(q: str) -> str:
    """A websearch-style query as FTS5 syntax: every word or phrase quoted (no operator
    injection), ``-x`` as NOT, ``or`` as OR, AND between the rest."""
    parts: list[str] = []
    for negated, text in _terms(q):
        if text == "OR":
            if parts and parts[-1] not in ("OR", "NOT"):
                parts.append("OR")
            continue
        words = re.findall(r"\w+", text)
        if not words:
            continue
        quoted = '"' + " ".join(words) + '"'
        if negated:
            if not parts:
                continue  # FTS5 cannot start with NOT: a lone exclusion matches nothing useful
            parts.append("NOT")
        parts.append(quoted)
    while parts and parts[-1] in ("OR", "NOT"):
        parts.pop()
    return " ".join(parts)


def _stems(q: str) -> list[str]:
    """Crude stems of the query's positive words, to mark them in snippets."""
    stems = []
    for negated, text in _terms(q):
        if negated or text == "OR":
            continue
        for word in re.findall(r"\w+", text.lower()):
            stem = re.sub(r"(ations?|ings?|ed|es|s)$", "", word) if len(word) > 4 else word
            # Search stems words (compiler, compiled -> compil): mark the shared prefix.
            stems.append(stem[: max(6, len(stem) - 2)])
    return stems


def snippet(text: str, q: str, radius: int = SNIPPET_RADIUS) -> str:
    """Up to two excerpts of ``text`` around the query's words, each match in ``<mark>``."""
    stems = _stems(q)
    if not stems:
        return text[: 2 * radius]
    word_re = re.compile(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", re.IGNORECASE)
    pieces: list[str] = []
    last_end = -1
    for match in word_re.finditer(text):
        if len(pieces) >= 2:
            break
        if match.start() < last_end:
            continue
        start, end = max(0, match.start() - radius), min(len(text), match.end() + radius)
        piece = _html_escape(text[start:end])
        pieces.append(word_re.sub(lambda m: f"<mark>{m.group(0)}</mark>", piece))
        last_end = end
    return " … ".join(pieces) if pieces else _html_escape(text[: 2 * radius])


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# How many of the newest logs the first, bounded pass of a PostgreSQL search tests.
RECENT_WINDOW = 500
_PG_RECENT = sa.text(
    "SELECT log_id FROM builds_log_search WHERE log_id > :floor "
    "AND tsv @@ websearch_to_tsquery('english', :q) ORDER BY log_id DESC LIMIT :n"
)
# MATERIALIZED keeps the GIN index in charge: the planner would otherwise walk the primary key
# newest first testing every tsvector, which for a rare word means all of them.
_PG_INDEXED = sa.text(
    "WITH hits AS MATERIALIZED (SELECT log_id FROM builds_log_search "
    "WHERE tsv @@ websearch_to_tsquery('english', :q)) "
    "SELECT log_id FROM hits ORDER BY log_id DESC LIMIT :n"
)


def _pg_search(q: str, limit: int) -> list[int]:
    """The newest ``limit`` matching log ids, in two passes.

    A common word matches among the newest logs: testing the last :data:`RECENT_WINDOW` finds
    ``limit`` of them at a bounded cost, and they are the newest overall since every newer log
    was tested. Otherwise the word is rare enough for the GIN index to list every match cheaply.
    """
    newest = db.session.scalar(sa.select(sa.func.max(BuildLog.id))) or 0
    recent = db.session.scalars(
        _PG_RECENT, {"floor": newest - RECENT_WINDOW, "q": q, "n": limit}
    ).all()
    if len(recent) >= limit:
        return list(recent)
    return list(db.session.scalars(_PG_INDEXED, {"q": q, "n": limit}).all())


def search(q: str, limit: int) -> dict[str, Any]:
    """Logs matching ``q`` (words, "phrases", -exclusions, or), newest first, with snippets."""
    if not q.strip():
        raise ValidationFailed("q must contain a word to search for.", code="BUILDS_EMPTY_QUERY")
    if is_sqlite():
        expression = fts5_query(q)
        if not expression:
            return {"query": q, "items": []}
        ids = db.session.scalars(
            sa.text(
                "SELECT rowid FROM builds_log_fts WHERE builds_log_fts MATCH :q "
                "ORDER BY rowid DESC LIMIT :n"
            ),
            {"q": expression, "n": limit},
        ).all()
    else:
        ids = _pg_search(q, limit)
    logs = {
        log.id: log for log in db.session.scalars(sa.select(BuildLog).where(BuildLog.id.in_(ids)))
    }
    items = []
    for log_id in ids:
        log = logs.get(log_id)
        if log is not None:
            items.append({**log_meta(log), "snippet": snippet(_indexed_text(text_of(log)), q)})
    return {"query": q, "items": items}
