"""Build events: ingest (one or a batch, idempotent on the client's event id) and every read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.api import paginate
from app.db import db, is_sqlite, utcnow
from app.errors import NotFound
from plugins.builds import hints, metrics
from plugins.builds.models import BuildEvent, FailureCount
from plugins.builds.names import FAILED_STATUSES, normalize_name, normalize_version

# Fields compared when an event id is sent again: equal means a retry, different a conflict.
_IDENTITY = ("name", "version", "status", "run_id", "python_tag", "platform_tag")


def event_dict(event: BuildEvent) -> dict[str, Any]:
    """The seed's Event shape (plus ``id``, ``event_id`` and ``duration_ms``)."""
    return {
        "id": event.id,
        "event_id": event.event_id,
        "run_id": event.run_id,
        "name": event.name,
        "version": event.version,
        "python_tag": event.python_tag,
        "platform_tag": event.platform_tag,
        "status": event.status,
        "detail": event.detail,
        "metadata": event.meta,
        "duration_ms": event.duration_ms,
        "timestamp": event.timestamp,
        "matched_hint_ids": list(event.matched_hint_ids or []),
    }


def _duration(raw: Mapping[str, Any]) -> int | None:
    if raw.get("duration_ms") is not None:
        return int(raw["duration_ms"])
    from_meta = (raw.get("metadata") or {}).get("duration_ms")
    # Only a plain non-negative number in metadata counts; anything else stays metadata.
    if isinstance(from_meta, int | float) and not isinstance(from_meta, bool) and from_meta >= 0:
        return min(int(from_meta), 2**31 - 1)
    return None


def _new_event(raw: Mapping[str, Any], index: int) -> BuildEvent:
    where = f"events[{index}]."
    return BuildEvent(
        event_id=raw.get("event_id"),
        run_id=raw.get("run_id"),
        name=normalize_name(raw["name"], where + "name"),
        version=normalize_version(raw["version"], where + "version"),
        python_tag=raw.get("python_tag"),
        platform_tag=raw.get("platform_tag"),
        status=raw["status"],
        detail=raw.get("detail"),
        meta=dict(raw.get("metadata") or {}),
        duration_ms=_duration(raw),
        matched_hint_ids=[],
        timestamp=raw.get("timestamp") or utcnow(),
    )


def ingest(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Store events; each gets ``accepted``, ``duplicate`` (same event id, same event) or
    ``conflict`` (same event id, another event: nothing stored). Validates every item first,
    so a bad item stores nothing."""
    events = [_new_event(raw, i) for i, raw in enumerate(items)]
    results: list[dict[str, Any]] = []
    accepted: list[BuildEvent] = []
    for event in events:
        existing = _by_event_id(event.event_id)
        if existing is None:
            try:
                with db.session.begin_nested():
                    db.session.add(event)
                accepted.append(event)
                results.append({"event_id": event.event_id, "status": "accepted", "event": event})
                continue
            except IntegrityError:  # a concurrent request stored the same event id first
                existing = _by_event_id(event.event_id)
        same = existing is not None and all(
            getattr(existing, f) == getattr(event, f) for f in _IDENTITY
        )
        results.append(
            {
                "event_id": event.event_id,
                "status": "duplicate" if same else "conflict",
                "event": existing,
            }
        )
    _count_failures([e for e in accepted if e.status in FAILED_STATUSES])
    db.session.commit()
    for event in accepted:
        metrics.EVENTS.labels(status=event.status).inc()
        if event.status in FAILED_STATUSES:
            hints.match_event(event)
    counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate")}
    return {
        **counts,
        "conflicts": sum(r["status"] == "conflict" for r in results),
        "items": [
            {"event_id": r["event_id"], "status": r["status"], "event": event_dict(r["event"])}
            for r in results
        ],
    }


def _by_event_id(event_id: str | None) -> BuildEvent | None:
    if event_id is None:
        return None
    return db.session.scalar(sa.select(BuildEvent).where(BuildEvent.event_id == event_id))


def _count_failures(failed: list[BuildEvent]) -> None:
    """Add failed events to the per-package counts (an atomic upsert, safe across workers)."""
    insert = sqlite_insert if is_sqlite() else pg_insert
    for event in failed:
        statement = insert(FailureCount).values(
            name=event.name, failures=1, last_failure=event.timestamp
        )
        table = FailureCount.__table__
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "failures": table.c.failures + 1,
                    "last_failure": sa.case(
                        (
                            table.c.last_failure > statement.excluded.last_failure,
                            table.c.last_failure,
                        ),
                        else_=statement.excluded.last_failure,
                    ),
                },
            )
        )


# -- reads ---------------------------------------------------------------------------------------

_NEWEST = (BuildEvent.timestamp.desc(), BuildEvent.id.desc())


def _page(query: sa.Select[Any], limit: int, offset: int) -> dict[str, Any]:
    page = paginate(query.order_by(*_NEWEST), limit, offset)
    page["items"] = [event_dict(e) for e in page["items"]]
    return page


def history(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Events newest first, filtered by package, status, run id and time range."""
    query = sa.select(BuildEvent)
    if filters.get("package"):
        query = query.where(BuildEvent.name == normalize_name(filters["package"], "package"))
    if filters.get("status"):
        query = query.where(BuildEvent.status == filters["status"])
    if filters.get("run_id"):
        query = query.where(BuildEvent.run_id == filters["run_id"])
    if filters.get("from"):
        query = query.where(BuildEvent.timestamp >= filters["from"])
    if filters.get("to"):
        query = query.where(BuildEvent.timestamp < filters["to"])
    return _page(query, filters["limit"], filters["offset"])


def summary(
    failure_limit: int, window_hours: int, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Status counts over the last ``window_hours`` and the latest failures."""
    since = (now or utcnow()) - dt.timedelta(hours=window_hours)
    rows = db.session.execute(
        sa.select(BuildEvent.status, sa.func.count())
        .where(BuildEvent.timestamp >= since)
        .group_by(BuildEvent.status)
    ).all()
    failures = db.session.scalars(
        sa.select(BuildEvent)
        .where(BuildEvent.status.in_(FAILED_STATUSES))
        .order_by(*_NEWEST)
        .limit(failure_limit)
    ).all()
    return {
        "window_hours": window_hours,
        "since": since,
        "status_counts": {status: count for status, count in rows},
        "total": sum(count for _, count in rows),
        "failures": [event_dict(e) for e in failures],
    }


def package(name: str) -> dict[str, Any]:
    """Counts by status, versions and the latest event of one package; 404 when unknown."""
    name = normalize_name(name)
    rows = db.session.execute(
        sa.select(BuildEvent.status, sa.func.count())
        .where(BuildEvent.name == name)
        .group_by(BuildEvent.status)
    ).all()
    if not rows:
        raise NotFound(f"No build events for package {name!r}.", code="BUILDS_PACKAGE_NOT_FOUND")
    latest = db.session.scalar(
        sa.select(BuildEvent).where(BuildEvent.name == name).order_by(*_NEWEST).limit(1)
    )
    assert latest is not None
    versions = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(BuildEvent.version))).where(BuildEvent.name == name)
    )
    return {
        "name": name,
        "status_counts": {status: count for status, count in rows},
        "total": sum(count for _, count in rows),
        "versions": versions,
        "latest": event_dict(latest),
    }


def latest_event(name: str, version: str) -> BuildEvent | None:
    """The newest event of ``name==version`` (normalised), or ``None``."""
    return db.session.scalar(
        sa.select(BuildEvent)
        .where(BuildEvent.name == name, BuildEvent.version == version)
        .order_by(*_NEWEST)
        .limit(1)
    )


def event(name: str, version: str) -> dict[str, Any]:
    """The last event of one version; 404 when there is none."""
    name, version = normalize_name(name), normalize_version(version)
    found = latest_event(name, version)
    if found is None:
        raise NotFound(f"No build events for {name}=={version}.", code="BUILDS_EVENT_NOT_FOUND")
    return event_dict(found)


def failures(name: str | None, limit: int, offset: int) -> dict[str, Any]:
    """Failed (and timed-out) builds newest first, of one package or of all."""
    query = sa.select(BuildEvent).where(BuildEvent.status.in_(FAILED_STATUSES))
    if name:
        query = query.where(BuildEvent.name == normalize_name(name))
    return _page(query, limit, offset)


def variants(name: str, limit: int, offset: int) -> dict[str, Any]:
    """Each (version, python tag, platform tag) built of a package: attempts, failures, last."""
    name = normalize_name(name)
    is_failure = sa.case((BuildEvent.status.in_(FAILED_STATUSES), 1), else_=0)
    query = (
        sa.select(
            BuildEvent.version,
            BuildEvent.python_tag,
            BuildEvent.platform_tag,
            sa.func.count().label("attempts"),
            sa.func.sum(is_failure).label("failures"),
            sa.func.max(BuildEvent.timestamp).label("last_timestamp"),
        )
        .where(BuildEvent.name == name)
        .group_by(BuildEvent.version, BuildEvent.python_tag, BuildEvent.platform_tag)
        .order_by(sa.desc("last_timestamp"))
    )
    page = paginate(query, limit, offset, rows=True)
    items = []
    for row in page["items"]:
        last = db.session.scalar(
            sa.select(BuildEvent.status)
            .where(
                BuildEvent.name == name,
                BuildEvent.version == row["version"],
                BuildEvent.python_tag.is_not_distinct_from(row["python_tag"]),
                BuildEvent.platform_tag.is_not_distinct_from(row["platform_tag"]),
            )
            .order_by(*_NEWEST)
            .limit(1)
        )
        items.append(
            {**dict(row), "name": name, "failures": int(row["failures"] or 0), "last_status": last}
        )
    page["items"] = items
    return page


def top_failures(limit: int) -> list[dict[str, Any]]:
    """Packages with the most failed builds (the counts kept at ingest)."""
    rows = db.session.scalars(
        sa.select(FailureCount)
        # Both descending, so the (failures, name) index is read backwards, no sort.
        .order_by(FailureCount.failures.desc(), FailureCount.name.desc())
        .limit(limit)
    ).all()
    return [{"name": r.name, "failures": r.failures, "last_failure": r.last_failure} for r in rows]


def top_slowest(limit: int) -> list[dict[str, Any]]:
    """The slowest builds (served by the ``duration_ms`` index)."""
    rows = db.session.scalars(
        sa.select(BuildEvent)
        .where(BuildEvent.duration_ms.is_not(None))
        .order_by(BuildEvent.duration_ms.desc())
        .limit(limit)
    ).all()
    return [event_dict(e) for e in rows]
