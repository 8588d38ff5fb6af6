"""Pagination: ``limit`` (default 50, max 500) and ``offset`` in; ``{items,total,limit,offset}``."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.api import DB_INT_MAX, DEFAULT_LIMIT, MAX_LIMIT

LISTS = (
    "/api/projects",
    "/api/projects/{name}/features",
    "/api/projects/{name}/test-runs",
    "/api/projects/{name}/features/{feature_id}/test-runs",
)


@pytest.fixture
def many_projects(client, project_dir: Path) -> list[str]:
    names = [f"p{i:02d}" for i in range(7)]
    for name in reversed(names):  # created out of order; listed in name order
        response = client.post("/api/projects", json={"name": name, "path": str(project_dir)})
        assert response.status_code == 201
    return names


def test_default_page(client, many_projects: list[str]) -> None:
    page = client.get("/api/projects").get_json()
    assert set(page) == {"items", "total", "limit", "offset"}
    assert page["limit"] == DEFAULT_LIMIT == 50
    assert page["offset"] == 0
    assert page["total"] == 7
    assert [p["name"] for p in page["items"]] == many_projects


def test_pages_walk_the_whole_list_without_gaps(client, many_projects: list[str]) -> None:
    seen: list[str] = []
    for offset in range(0, 9, 3):
        page = client.get(f"/api/projects?limit=3&offset={offset}").get_json()
        assert page["limit"] == 3 and page["offset"] == offset and page["total"] == 7
        seen.extend(p["name"] for p in page["items"])
    assert seen == many_projects


def test_an_offset_past_the_end_is_an_empty_page(client, many_projects: list[str]) -> None:
    page = client.get("/api/projects?offset=100").get_json()
    assert page["items"] == [] and page["total"] == 7


def test_the_maximum_limit_is_accepted(client, many_projects: list[str]) -> None:
    page = client.get(f"/api/projects?limit={MAX_LIMIT}").get_json()
    assert page["limit"] == 500 and len(page["items"]) == 7


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=ten",
        "offset=-1",
        f"offset={DB_INT_MAX + 1}",
        "offset=99999999999999999999999999",
        "limit=1.5",
    ],
)
def test_out_of_range_paging_is_422(client, query: str) -> None:
    response = client.get(f"/api/projects?{query}")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == query.split("=")[0]


def test_every_list_documents_paging_and_the_envelope(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for path in LISTS:
        operation = spec["paths"][path]["get"]
        params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert params["limit"]["schema"] == {
            "type": "integer",
            "default": 50,
            "minimum": 1,
            "maximum": 500,
        }
        assert params["offset"]["schema"]["default"] == 0
        assert params["offset"]["schema"]["minimum"] == 0
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        envelope = schemas[ref.rsplit("/", 1)[1]]
        assert set(envelope["required"]) == {"items", "total", "limit", "offset"}
        assert envelope["properties"]["items"]["type"] == "array"


def test_paginate_counts_distinct_queries_like_a_separate_count(app, many_projects) -> None:
    # The total rides along the page as a scalar subquery; it must count what the query
    # selects (here 2 distinct descriptions over 7 rows), not the underlying rows.
    import sqlalchemy as sa

    from app.api import paginate
    from app.db import db
    from app.domain.models import Project

    with app.app_context():
        for index, project in enumerate(db.session.scalars(sa.select(Project)).all()):
            project.description = "even" if index % 2 == 0 else "odd"
        db.session.commit()
        query = sa.select(Project.description).distinct().order_by(Project.description)
        page = paginate(query, limit=1, offset=0)
        assert page["total"] == 2 and page["items"] == ["even"]
        past_end = paginate(query, limit=1, offset=5)
        assert past_end["total"] == 2 and past_end["items"] == []
        rows = paginate(sa.select(Project.name).order_by(Project.name), 2, 0, rows=True)
        assert [row["name"] for row in rows["items"]] == many_projects[:2]
        assert rows["total"] == 7
