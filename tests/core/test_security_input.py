"""No input gets a 500, over real HTTP (issue 8, point 5): one JSON parser with limits, 413 for
an oversized chunked body, strict JSON types, ASCII ids."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from app import settings
from app.api import parse_json
from app.errors import PROBLEM_MIME, JunctionError
from app.jsonparse import MAX_DEPTH
from tests.core.security_http import call, serving

WEBHOOK_SECRET = "whsec-security-tests-0123456789"


def _problem(reply: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status == status, reply.body[:500]
    assert reply.headers["content-type"].startswith(PROBLEM_MIME)
    body = reply.json()
    if code is not None:
        assert body["code"] == code
    return body


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE = [
    (_nested(1000), 400, "JSON_TOO_DEEP"),
    (_nested(100_000), 400, "JSON_TOO_DEEP"),
    ('{"name": ' + _nested(MAX_DEPTH + 1) + "}", 400, "JSON_TOO_DEEP"),
    ('{"name": "p", "path": "/", "description": ' + "9" * 5000 + "}", 422, "NUMBER_TOO_LARGE"),
    ('{"name": NaN}', 400, "MALFORMED_JSON"),
    ('{"name": 1e999}', 422, "NUMBER_TOO_LARGE"),
]


@pytest.mark.parametrize(("body", "status", "code"), HOSTILE)
def test_hostile_json_bodies_get_4xx_problems(app: Flask, body: str, status: int, code: str):
    with serving(app) as port:
        for method, path in (("POST", "/api/projects"), ("PATCH", "/api/projects/none")):
            reply = call(
                port, method, path, body=body, headers={"Content-Type": "application/json"}
            )
            _problem(reply, status, code)


def test_parse_json_is_the_one_parser() -> None:
    assert parse_json(b'{"a": [1, 2.5, "\\ud83d\\ude00"]}') == {"a": [1, 2.5, "\U0001f600"]}
    assert parse_json(_nested(MAX_DEPTH)) == parse_json(_nested(MAX_DEPTH))
    for raw in (_nested(MAX_DEPTH + 1), "9" * 4301, '"\\ud800"', "{", b"\xff"):
        with pytest.raises(JunctionError):
            parse_json(raw)


def _sign(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Plane-Signature": hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        # A validation failure: planning's validation status, the seed's 400 (app.blueprint).
        (b'{"event": "issue", "action": "updated", "data": {"id": "\\ud800"}}', 400),
        (b'{"event": "issue", "action": "updated", "data": ' + _nested(5000).encode() + b"}", 400),
        (b'{"event": "issue", "action": "updated", "data": {"n": ' + b"7" * 5000 + b"}}", 422),
    ],
)
def test_a_signed_webhook_with_hostile_json_gets_4xx(app: Flask, body: bytes, status: int):
    with app.app_context():
        settings.set_values("planning", {"webhook_secret": WEBHOOK_SECRET})
    with serving(app) as port:
        reply = call(port, "POST", "/api/planning/webhooks", body=body, headers=_sign(body))
    _problem(reply, status)


def test_a_12_mb_chunked_body_gets_413(app: Flask) -> None:
    body = json.dumps({"name": "p", "path": "/", "description": "x" * (12 * 1024 * 1024)})
    with serving(app) as port:
        reply = call(
            port,
            "POST",
            "/api/projects",
            body=body,
            headers={"Content-Type": "application/json"},
            chunked=True,
        )
    _problem(reply, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", 1.5),
        ("priority", "1"),
        ("priority", True),
        ("passes", "true"),
        ("passes", 1),
        ("dependencies", ["1"]),
        ("dependencies", [1.5]),
    ],
)
def test_json_fields_are_strictly_typed(app: Flask, project_dir: Any, field: str, value: Any):
    with serving(app) as port:
        call(port, "POST", "/api/projects", json_body={"name": "p", "path": str(project_dir)})
        created = call(port, "POST", "/api/projects/p/features", json_body={"name": "f"})
        assert created.status == 201, created.body
        feature = created.json()["id"]
        reply = call(
            port, "POST", "/api/projects/p/features", json_body={"name": "g", field: value}
        )
        body = _problem(reply, 422, "VALIDATION_ERROR")
        assert [e["field"] for e in body["errors"]] == [
            field if field != "dependencies" else "dependencies.0"
        ]
        patched = call(
            port, "PATCH", f"/api/projects/p/features/{feature}", json_body={field: value}
        )
        _problem(patched, 422, "VALIDATION_ERROR")
        stored = call(port, "GET", f"/api/projects/p/features/{feature}").json()
    assert stored["priority"] == created.json()["priority"]


def test_strict_types_still_list_every_bad_field(app: Flask, project_dir: Any) -> None:
    with serving(app) as port:
        call(port, "POST", "/api/projects", json_body={"name": "p", "path": str(project_dir)})
        reply = call(
            port,
            "POST",
            "/api/projects/p/features",
            json_body={"name": "", "priority": 1.5, "passes": "yes"},
        )
    body = _problem(reply, 422, "VALIDATION_ERROR")
    assert {e["field"] for e in body["errors"]} == {"name", "priority", "passes"}


def test_query_strings_keep_their_conversions(app: Flask) -> None:
    with serving(app) as port:
        assert call(port, "GET", "/api/projects?limit=5&offset=0").status == 200


@pytest.mark.parametrize("zero", [0xFF10, 0x0660, 0x0966])  # fullwidth, Arabic-Indic, Devanagari
def test_non_ascii_digits_in_a_path_id_do_not_resolve(
    app: Flask, project_dir: Any, zero: int
) -> None:
    from urllib.parse import quote

    with serving(app) as port:
        call(port, "POST", "/api/projects", json_body={"name": "p", "path": str(project_dir)})
        feature = call(port, "POST", "/api/projects/p/features", json_body={"name": "f"}).json()
        ascii_id = str(feature["id"])
        other = quote("".join(chr(zero + int(d)) for d in ascii_id))
        assert call(port, "GET", f"/api/projects/p/features/{ascii_id}").status == 200
        reply = call(port, "GET", f"/api/projects/p/features/{other}")
        deleted = call(port, "DELETE", f"/api/projects/p/features/{other}")
        still = call(port, "GET", f"/api/projects/p/features/{ascii_id}")
    _problem(reply, 404)
    assert deleted.status in {404, 405}
    assert still.status == 200


def test_an_oversized_body_with_a_length_gets_413(make_app: Callable[..., Flask]) -> None:
    app = make_app({"MAX_CONTENT_LENGTH": 1000})
    with serving(app) as port:
        reply = call(port, "POST", "/api/projects", json_body={"name": "p", "path": "x" * 2000})
    _problem(reply, 413, "PAYLOAD_TOO_LARGE")
