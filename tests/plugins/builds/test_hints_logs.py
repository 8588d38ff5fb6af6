"""Hints (regex checked at write time, matched on failed builds' logs) and logs (compressed,
size-limited, full-text search with stemming and phrases)."""

from __future__ import annotations

import zlib

from app.db import db
from plugins.builds.models import BuildLog
from tests.plugins.builds.conftest import event, set_builds_settings

GCC_LOG = """Building wheel for lxml (pyproject.toml) ... error <stdin>
  src/lxml/etree.c:96:10: fatal error: libxml/xmlversion.h: No such file or directory
  compilation terminated.
  error: command '/usr/bin/gcc' failed with exit code 1
"""
HINT = {
    "pattern": r"fatal error: libxml/\w+\.h: No such file",
    "recipes": {"dnf": ["libxml2-devel"], "apt": ["libxml2-dev"]},
    "note": "Install the libxml2 headers.",
}


def test_hint_crud(junction_client):
    c = junction_client
    created = c.post("/api/builds/hints", json=HINT)
    assert created.status_code == 201, created.get_json()
    hint = created.get_json()
    assert hint["recipes"] == HINT["recipes"]
    updated = c.put(f"/api/builds/hints/{hint['id']}", json={**HINT, "note": "headers"})
    assert updated.get_json()["note"] == "headers"
    assert [h["id"] for h in c.get("/api/builds/hints").get_json()["items"]] == [hint["id"]]
    assert c.delete(f"/api/builds/hints/{hint['id']}").status_code == 204
    assert c.delete(f"/api/builds/hints/{hint['id']}").status_code == 404
    assert c.put("/api/builds/hints/999", json=HINT).status_code == 404


def test_dangerous_or_invalid_patterns_are_refused(junction_client):
    for pattern, why in [
        ("(a+)+$", "nested quantifiers"),
        ("(x|xy)*z", "alternation"),
        (r"(\w)\1", "back-references"),
        (".*.*.*.*.*=", "catastrophic backtracking"),
        ("[unclosed", "not a valid regular expression"),
    ]:
        response = junction_client.post("/api/builds/hints", json={**HINT, "pattern": pattern})
        assert response.status_code == 422, pattern
        assert why in response.get_json()["detail"], response.get_json()
        assert response.get_json()["errors"][0]["field"] == "pattern"
    bad_recipe = junction_client.post(
        "/api/builds/hints", json={**HINT, "recipes": {"apt": ["libxml2-dev && curl evil"]}}
    )
    assert bad_recipe.status_code == 422
    assert junction_client.get("/api/builds/hints").get_json()["items"] == []


def test_failed_build_log_records_matching_hints(junction_client):
    c = junction_client
    hint_id = c.post("/api/builds/hints", json=HINT).get_json()["id"]
    other = c.post("/api/builds/hints", json={**HINT, "pattern": "rustc not found"})
    c.post("/api/builds/events", json=event("lxml", "5.1.0", "failed", event_id="x1"))
    stored = c.post(
        "/api/builds/logs", json={"name": "lxml", "version": "5.1.0", "content": GCC_LOG}
    )
    assert stored.status_code == 201, stored.get_json()
    last = c.get("/api/builds/event/lxml/5.1.0").get_json()
    assert last["matched_hint_ids"] == [hint_id]
    assert other.get_json()["id"] not in last["matched_hint_ids"]
    # A failure reported after its log is matched at once, against the stored log.
    c.post("/api/builds/events", json=event("lxml", "5.1.0", "failed", event_id="x2"))
    assert c.get("/api/builds/event/lxml/5.1.0").get_json()["matched_hint_ids"] == [hint_id]
    # A successful build matches nothing.
    c.post("/api/builds/events", json=event("lxml", "5.1.0", "built", event_id="x3"))
    assert c.get("/api/builds/event/lxml/5.1.0").get_json()["matched_hint_ids"] == []


def test_log_is_compressed_and_size_limited(junction_app, junction_client):
    set_builds_settings(junction_app, max_log_bytes=4096)
    c = junction_client
    content = "start of the build\n" + "compiling module x\n" * 2000 + "the final error line\n"
    meta = c.post("/api/builds/logs", json={"name": "pkg", "version": "1.0", "content": content})
    assert meta.status_code == 201
    body = meta.get_json()
    assert body["truncated"] is True and body["size_bytes"] <= 4096 + 100
    assert body["compressed_bytes"] < body["size_bytes"]
    log = c.get("/api/builds/logs/PKG/1.0").get_json()
    assert log["content"].startswith("start of the build")
    assert log["content"].endswith("the final error line\n")
    assert "bytes cut" in log["content"]
    with junction_app.app_context():
        row = db.session.scalars(db.select(BuildLog)).one()
        assert zlib.decompress(row.content).decode() == log["content"]
    assert c.get("/api/builds/logs/pkg/2.0").status_code == 404


def _store(c, name, content, version="1.0"):
    response = c.post(
        "/api/builds/logs", json={"name": name, "version": version, "content": content}
    )
    assert response.status_code == 201, response.get_json()


def test_full_text_search(junction_client):
    c = junction_client
    _store(c, "lxml", GCC_LOG)
    _store(c, "cryptography", "error: can't find Rust compiler\nbuilding the rust extension failed")
    _store(c, "numpy", "compiled fine\nall tests passed")

    def names(q, **params):
        response = c.get("/api/builds/logs/search", query_string={"q": q, **params})
        assert response.status_code == 200, response.get_json()
        return [i["name"] for i in response.get_json()["items"]]

    # Stemming: "failing" finds "failed"; "compile" finds compilation, compiler and compiled.
    assert sorted(names("failing")) == ["cryptography", "lxml"]
    assert sorted(names("compile")) == ["cryptography", "lxml", "numpy"]
    # Phrases: words in this order only.
    assert names('"rust compiler"') == ["cryptography"]
    assert names('"compiler rust"') == []
    # Exclusion and or.
    assert sorted(names("compile -passed")) == ["cryptography", "lxml"]
    assert names("compile -passed -rust") == ["lxml"]
    assert sorted(names("rust or terminated")) == ["cryptography", "lxml"]
    # Operators in the query are words, not FTS syntax.
    assert names('NEAR( AND * "') == []
    assert c.get("/api/builds/logs/search", query_string={"q": 'x" OR "y'}).status_code == 200
    assert names("gcc", limit=1) == ["lxml"]

    hits = c.get("/api/builds/logs/search?q=compiler").get_json()["items"]
    snippets = {h["name"]: h["snippet"] for h in hits}
    assert "Rust <mark>compiler</mark>" in snippets["cryptography"]
    assert "<mark>compiled</mark> fine" in snippets["numpy"]
    escaped = c.get("/api/builds/logs/search?q=command").get_json()["items"][0]["snippet"]
    assert "<mark>command</mark>" in escaped and "'/usr/bin/gcc'" in escaped
    tags = c.get("/api/builds/logs/search?q=fatal").get_json()["items"][0]["snippet"]
    assert "<mark>fatal</mark>" in tags and "<" not in tags.replace("<mark>", "").replace(
        "</mark>", ""
    )
    assert c.get("/api/builds/logs/search?q=").status_code == 422
