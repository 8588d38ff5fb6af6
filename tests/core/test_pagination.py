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
