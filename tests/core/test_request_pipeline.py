"""The per-request shortcuts keep the pipeline's behaviour: proxy detection, metrics, query
parsing and ``rows=True`` pages."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import marshmallow as ma
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Dialect
from werkzeug.datastructures import EnvironHeaders

from app import hosts

header_names = st.sampled_from(
    [*hosts.PROXY_HEADERS, "Accept", "User-Agent", "X-Request-ID", "X-Forwarded-Fo", "Forwarded-X"]
)


@given(names=st.sets(header_names), trusted=st.integers(0, 2))
def test_forwarding_headers_from_the_environ_match_the_header_list(
    names: set[str], trusted: int
) -> None:
    """Reading the environ finds exactly what a pass over the request's headers finds."""
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET"}
    for name in names:
        environ["HTTP_" + name.upper().replace("-", "_")] = "1"
    expected = hosts.forwarding_headers(EnvironHeaders(environ).keys(), trusted)
    assert hosts.forwarding_headers_in_environ(environ, trusted) == expected
    assert bool(expected) == bool(
        {n for n in names if n in hosts.PROXY_HEADERS}
        - (hosts.PROXY_FIX_HEADERS if trusted else set())
    )


def test_a_forwarded_request_is_not_loopback(client: Any) -> None:
    """The guard still refuses a proxied request without tokens (``X-Real-IP`` from 127.0.0.1)."""
    assert client.get("/api/projects").status_code == 200
    refused = client.get("/api/projects", headers={"X-Real-IP": "203.0.113.9"})
    assert refused.status_code == 403 and refused.json["code"] == "LOOPBACK_ONLY"


def sample(name: str, labels: dict[str, str]) -> float:
    """The current value of a Prometheus sample in this process (0 when absent)."""
    from prometheus_client import REGISTRY

    from app import request_metrics

    request_metrics.flush()
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_request_metrics_count_every_request_with_their_labels(client: Any) -> None:
    """The kept metric children are the registry's own: counts and latency keep adding up."""
    labels = {"method": "GET", "endpoint": "/healthz", "status": "200"}
    before = sample("junction_http_requests_total", labels)
    observed = sample("junction_http_request_duration_seconds_count", labels)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert sample("junction_http_requests_total", labels) == before + 3
    assert sample("junction_http_request_duration_seconds_count", labels) == observed + 3
    missing = {"method": "GET", "endpoint": "<unmatched>", "status": "404"}
    before = sample("junction_http_requests_total", missing)
    assert client.get("/nowhere").status_code == 404
    assert sample("junction_http_requests_total", missing) == before + 1


def test_query_schemas_are_instantiated_once_and_still_validate(client: Any) -> None:
    """One schema instance per class serves every request; bad values are still refused."""
    from flask_smorest.arguments import ArgumentsMixin

    from app.api import PageQuerySchema

    parser = ArgumentsMixin.ARGUMENTS_PARSER
    assert client.get("/api/projects?limit=2").status_code == 200
    first = parser._schemas[PageQuerySchema]
    assert client.get("/api/projects?limit=3&offset=1").json["limit"] == 3
    assert parser._schemas[PageQuerySchema] is first
    bad = client.get("/api/projects?limit=0")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "limit"


def test_schema_instances_are_per_class(app: Any) -> None:
    """A schema given as an instance is used as given; classes get an instance each."""
    from app.bodies import JunctionParser

    class A(ma.Schema):
        x = ma.fields.Integer()

    class B(ma.Schema):
        x = ma.fields.Integer()

    parser = JunctionParser()
    given_instance = A()
    with app.test_request_context("/?x=1"):
        from flask import request

        assert parser._get_schema(given_instance, request) is given_instance
        a, b = parser._get_schema(A, request), parser._get_schema(B, request)
        assert type(a) is A and type(b) is B and parser._get_schema(A, request) is a


def test_rows_pages_read_without_a_session_and_with_one(app: Any, project_dir: Any) -> None:
    """Without a session yet the page reads on a connection of its own; with one (pending
    changes included) it reads through the session and sees them."""
    import sqlalchemy as sa

    from app.api import paginate
    from app.db import db
    from app.domain.models import Project

    query = sa.select(Project.name).order_by(Project.name)
    with app.app_context():
        db.session.add(Project(name="committed", path=str(project_dir), description=""))
        db.session.commit()
        db.session.remove()
    with app.app_context():
        page = paginate(query, 10, 0, rows=True)
        assert not db.session.registry.has()  # no session was set up for the read
        assert page["items"] == [{"name": "committed"}] and page["total"] == 1
        db.session.add(Project(name="pending", path=str(project_dir), description=""))
        page = paginate(query, 10, 0, rows=True)
        assert [item["name"] for item in page["items"]] == ["committed", "pending"]
        assert page["total"] == 2
        db.session.rollback()


# What a timestamp column may hold on SQLite: SQLAlchemy's own text (zero and non-zero
# microseconds), NULL, and forms a hand-written row may hold, which take the general path (or a
# fast path that must agree with it).
SQLITE_STORED_TIMESTAMPS: list[Any] = [
    "2026-11-25 23:48:09.345954",
    "2026-01-01 00:00:00.000000",
    "2026-01-01 00:00:00.000100",
    None,
    "2026-11-25 23:48:09",
    "2026-11-25 23:48:09.12",
    "2026-11-25",
    "2026-11-25 23:48:09+02:00",
]
PG_TIMESTAMPS: list[Any] = [
    _dt.datetime(2024, 1, 1, 5, tzinfo=_dt.timezone(_dt.timedelta(hours=2))),
    None,
]


def test_timestamps_read_as_process_result_value_says() -> None:
    """The fused result processor of ``UTCDateTime`` gives what the documented chain gives:
    the driver's value, then aware UTC (naive taken as UTC, others converted)."""
    import datetime as dt

    from sqlalchemy.dialects import postgresql, sqlite

    from app.db import UTCDateTime

    column = UTCDateTime()
    cases: list[tuple[Dialect, list[Any]]] = [
        (sqlite.dialect(), SQLITE_STORED_TIMESTAMPS),
        (postgresql.psycopg.dialect(), PG_TIMESTAMPS),
        (postgresql.psycopg.dialect(), [dt.datetime(2024, 1, 1, 5)]),
    ]
    for dialect, values in cases:
        fused = column._cached_result_processor(dialect, None)
        assert fused is not None
        impl = column.impl_instance.dialect_impl(dialect).result_processor(dialect, None)
        for value in values:
            expected = column.process_result_value(impl(value) if impl else value, dialect)
            got = fused(value)
            assert got == expected
            assert got is None or got.tzinfo is dt.UTC


def test_timestamps_read_as_text_are_the_aware_values_isoformat() -> None:
    """``UTCIsoText`` (the columns of ``iso_text``) gives exactly ``isoformat()`` of what
    ``UTCDateTime`` reads, for every stored form, zero microseconds included."""

    from sqlalchemy.dialects import postgresql, sqlite

    from app.db import UTCDateTime, UTCIsoText

    cases: list[tuple[Dialect, list[Any]]] = [
        (sqlite.dialect(), SQLITE_STORED_TIMESTAMPS),
        (postgresql.psycopg.dialect(), PG_TIMESTAMPS),
    ]
    for dialect, values in cases:
        moment = UTCDateTime()._cached_result_processor(dialect, None)
        text = UTCIsoText()._cached_result_processor(dialect, None)
        assert moment is not None and text is not None
        for value in values:
            parsed = moment(value)
            assert text(value) == (None if parsed is None else parsed.isoformat()), value


def test_a_page_of_iso_text_rows_answers_what_the_orm_objects_do(
    app: Any, project_dir: Any
) -> None:
    """The project list reads its timestamps as text; the answer shows the very values the
    model holds (on the test database: SQLite or PostgreSQL)."""
    import datetime as dt

    from app.db import db
    from app.domain.models import Project

    stamps = [
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=dt.UTC),
    ]
    with app.app_context():
        for index, stamp in enumerate(stamps):
            db.session.add(
                Project(name=f"p{index}", path=str(project_dir), created_at=stamp, updated_at=stamp)
            )
        db.session.add(Project(name="p2", path=str(project_dir)))
        db.session.commit()
        expected = {
            p.name: (p.created_at.isoformat(), p.updated_at.isoformat())
            for p in db.session.scalars(db.select(Project))
        }
    items = app.test_client().get("/api/projects").json["items"]
    assert {i["name"]: (i["created_at"], i["updated_at"]) for i in items} == expected
    assert expected["p0"][0] == "2026-01-02T03:04:05+00:00"


def test_a_requests_session_is_closed_and_removed_at_its_end(app: Any) -> None:
    """The teardown closes and removes a session a request used (the next request gets a new
    one); a request that used none leaves nothing to remove and answers as usual."""
    import sqlalchemy as sa

    from app.db import db

    sessions: list[Any] = []

    @app.get("/_test/session-identity")
    def identity() -> dict[str, Any]:
        session = db.session()
        session.execute(sa.text("SELECT 1"))
        assert session.in_transaction()
        sessions.append(session)
        return {"ok": True}

    client = app.test_client()
    for _ in range(2):
        assert client.get("/_test/session-identity").status_code == 200
        assert not sessions[-1].in_transaction()  # closed by the teardown
    assert sessions[0] is not sessions[1]
    assert client.get("/healthz").status_code == 200
