"""Routes of health, configuration and build history: events in, summaries and queries out."""

from __future__ import annotations

from typing import Any

from plugins.builds import config_view, history, status
from plugins.builds import schemas as s
from plugins.builds.routes.blueprint import PACKAGE_NAME, PACKAGE_VERSION, blp
from plugins.builds.tokens import worker_only


@blp.get("/health")
@blp.response(200, s.BuildsHealthSchema)
@blp.alt_response(503, schema="Problem", description="The queue backend is unavailable.")
def health() -> dict[str, Any]:
    """``{"status": "ok"}`` when the database and the queue backend answer."""
    return status.health()


@blp.get("/config")
@blp.response(200, s.BuildsConfigSchema)
def get_config() -> dict[str, Any]:
    """Strategy, targets, index settings, queue backend, database: sanitised."""
    return config_view.public_config()


@blp.post("/events")
@worker_only
@blp.arguments(s.BuildsEventBatchSchema)
@blp.response(200, s.BuildsIngestResultSchema)
@blp.alt_response(401, schema="Problem", description="Worker token missing or wrong.")
def post_events(body: dict[str, Any]) -> dict[str, Any]:
    """Ingest one event or a batch; an event id sent again stores nothing (``duplicate``)."""
    return history.ingest(body["events"])


@blp.get("/summary")
@blp.arguments(s.BuildsSummaryQuerySchema, location="query")
@blp.response(200, s.BuildsSummarySchema)
def summary(query: dict[str, Any]) -> dict[str, Any]:
    """Status counts over the recent window and the latest failures."""
    return history.summary(query["failure_limit"], query["window_hours"])


@blp.get("/recent")
@blp.arguments(s.BuildsRecentQuerySchema, location="query")
@blp.response(200, s.BuildsEventPageSchema)
def recent(query: dict[str, Any]) -> dict[str, Any]:
    """The latest events, optionally of one package or status."""
    return history.history(query)


@blp.get("/history")
@blp.arguments(s.BuildsHistoryQuerySchema, location="query")
@blp.response(200, s.BuildsEventPageSchema)
def get_history(query: dict[str, Any]) -> dict[str, Any]:
    """Events filtered by package, status, run id and time range (``from`` ≤ t < ``to``)."""
    return history.history(query)


@blp.get("/package/<string:name>", parameters=[PACKAGE_NAME])
@blp.response(200, s.BuildsPackageSchema)
@blp.alt_response(404, schema="Problem", description="No events for this package.")
def package(name: str) -> dict[str, Any]:
    """A package's counts by status, versions and latest event."""
    return history.package(name)


@blp.get("/event/<string:name>/<string:version>", parameters=[PACKAGE_NAME, PACKAGE_VERSION])
@blp.response(200, s.BuildsEventSchema)
@blp.alt_response(404, schema="Problem", description="No events for this version.")
def event(name: str, version: str) -> dict[str, Any]:
    """The last event of one version."""
    return history.event(name, version)


@blp.get("/failures")
@blp.arguments(s.BuildsFailuresQuerySchema, location="query")
@blp.response(200, s.BuildsEventPageSchema)
def failures(query: dict[str, Any]) -> dict[str, Any]:
    """Failed builds over time, of one package (``name``) or all."""
    return history.failures(query.get("name"), query["limit"], query["offset"])


@blp.get("/variants/<string:name>", parameters=[PACKAGE_NAME])
@blp.arguments(s.BuildsPageQuerySchema, location="query")
@blp.response(200, s.BuildsVariantPageSchema)
def variants(query: dict[str, Any], name: str) -> dict[str, Any]:
    """Each version and tag pair built of a package: attempts, failures, last status."""
    return history.variants(name, query["limit"], query["offset"])


@blp.get("/top-failures")
@blp.arguments(s.BuildsTopQuerySchema, location="query")
@blp.response(200, s.BuildsTopFailuresSchema)
def top_failures(query: dict[str, Any]) -> dict[str, Any]:
    """Packages with the most failed builds."""
    return {"items": history.top_failures(query["limit"])}


@blp.get("/top-slowest")
@blp.arguments(s.BuildsTopQuerySchema, location="query")
@blp.response(200, s.BuildsTopSlowestSchema)
def top_slowest(query: dict[str, Any]) -> dict[str, Any]:
    """The slowest builds."""
    return {"items": history.top_slowest(query["limit"])}
