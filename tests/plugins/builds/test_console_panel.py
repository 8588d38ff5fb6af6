"""The builds panel of the web console: the queue with its stats, recent builds and failures
with their matched hints, top failures and slowest, the live log tail and the channel it
follows, the log search (GET, escaped snippets), ``fragment=1``, hostile text escaped."""

from __future__ import annotations

import json
import re
from typing import Any

from plugins.builds import console
from plugins.builds.logtail import channel
from tests.plugins.builds.conftest import event

PANEL = "/console/builds/"
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
HINT = {
    "pattern": r"fatal error: libxml/\w+\.h: No such file",
    "recipes": {"dnf": ["libxml2-devel"], "apt": ["libxml2-dev"]},
    "note": f"Install the headers {HOSTILE}",
}
GCC_LOG = (
    "Building wheel for lxml\n"
    "  src/lxml/etree.c:96:10: fatal error: libxml/xmlversion.h: No such file or directory\n"
    f"  compilation terminated {HOSTILE}\n"
)


def page(client: Any, query: str = "") -> str:
    response = client.get(PANEL + query)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def channels_of(html: str) -> list[str]:
    match = re.search(r"data-channels='([^']*)'", html)
    assert match
    return json.loads(match.group(1).replace("&#34;", '"'))


def section(html: str, ident: str) -> str:
    start = html.index(f'id="{ident}"')
    end = html.find("</section>", start)
    return html[start:end]


def assert_no_raw_markup(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html


def _append(client: Any, name: str, version: str, text: str) -> None:
    response = client.post(
        f"/api/builds/logs/stream/{name}/{version}",
        data=text.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.get_json()


def test_empty_panel_says_how_to_start(junction_client: Any) -> None:
    html = page(junction_client)
    assert "The queue is empty." in html
    assert "No build yet" in html and "No live log yet" in html
    assert "<code>file</code>" in html  # the backend serving the queue
    assert channels_of(html) == ["operations"]


def test_queue_builds_failures_with_hints_and_tops(junction_client: Any) -> None:
    c = junction_client
    for body in (
        {"package": "Zope.Interface", "version": "6.0", "recipes": {"dnf": ["gcc"]}},
        {"package": "numpy", "version": "1.26.0"},
    ):
        assert c.post("/api/builds/queue/enqueue", json=body).status_code == 201
    hint_id = c.post("/api/builds/hints", json=HINT).get_json()["id"]
    events = [
        event("numpy", "1.26.0", "built", event_id="e1", duration_ms=91_000),
        event("lxml", "5.1.0", "failed", event_id="e2", detail=f"gcc said {HOSTILE}"),
        event("lxml", "5.0.0", "failed", event_id="e3", duration_ms=5_000),
        event("six", "1.16.0", "timeout", event_id="e4"),
    ]
    assert c.post("/api/builds/events", json={"events": events}).status_code in (200, 201)
    stored = c.post(
        "/api/builds/logs", json={"name": "lxml", "version": "5.1.0", "content": GCC_LOG}
    )
    assert stored.status_code == 201

    html = page(c)
    queue = section(html, "builds-queue")
    assert queue.count("<tr data-queue-id=") == 2
    assert "zope-interface" in queue and "dnf: gcc" in queue
    assert "<dt>Queued</dt><dd>2</dd>" in queue

    recent = section(html, "builds-recent")
    assert recent.count("<tr data-event-id=") == 4
    assert 'href="/console/builds/?tail=numpy%3D%3D1.26.0"' in recent
    assert "91000 ms" in recent

    failures = section(html, "builds-failures")
    assert failures.count("<tr data-event-id=") == 3
    assert f'data-hint-id="{hint_id}"' in failures and "libxml2-devel" in failures
    assert "Install the headers &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in failures
    assert "gcc said &lt;img" in failures
    assert "no hint matched" in failures  # lxml 5.0.0 and six had no log

    tops = section(html, "builds-top-failures")
    assert re.search(r"lxml</a> <span class=\"muted\">2 failed", tops)
    slowest = section(html, "builds-top-slowest")
    assert slowest.index("numpy 1.26.0") < slowest.index("lxml 5.0.0")
    assert_no_raw_markup(html)


def test_live_tail_follows_the_build_channel_and_escapes_lines(junction_client: Any) -> None:
    c = junction_client
    _append(c, "demo-pkg", "1.0", "collecting\n")
    _append(c, "other", "2.0", f"line one\n{HOSTILE}\n")
    # Without a pick, the build appended last is shown and followed.
    html = page(c)
    tail = section(html, "builds-tail")
    assert "Live log of other 2.0" in tail and "status-running" in tail
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in tail
    assert channels_of(html) == ["operations", channel("other", "2.0")]
    assert_no_raw_markup(html)

    picked = page(c, "?tail=Demo_Pkg==1.0")
    assert "Live log of demo-pkg 1.0" in picked and "collecting" in picked
    assert channels_of(picked) == ["operations", channel("demo-pkg", "1.0")]
    _append(c, "demo-pkg", "1.0", "building wheel\n")
    again = section(page(c, "?tail=demo-pkg==1.0"), "builds-tail")
    assert "collecting\nbuilding wheel\n</pre>" in again and "Lines 1 to 2" in again

    c.post("/api/builds/logs", json={"name": "demo-pkg", "version": "1.0", "content": "all"})
    done = section(page(c, "?tail=demo-pkg==1.0"), "builds-tail")
    assert "status-complete" in done and 'href="/api/builds/logs/demo-pkg/1.0"' in done


def test_tail_keeps_only_the_last_lines(junction_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(console, "TAIL_LINES", 3)
    _append(junction_client, "pkg", "1.0", "a\nb\n")
    _append(junction_client, "pkg", "1.0", "c\nd\ne\n")
    tail = section(page(junction_client, "?tail=pkg==1.0"), "builds-tail")
    assert "c\nd\ne\n</pre>" in tail and "Lines 3 to 5" in tail and ">a\n" not in tail


def test_a_bad_tail_pick_is_a_message_and_follows_nothing(junction_client: Any) -> None:
    for pick in (HOSTILE, "no-separator", f"pkg=={HOSTILE}"):
        html = page(junction_client, "?tail=" + pick.replace("&", "%26"))
        tail = section(html, "builds-tail")
        assert 'class="notice error"' in tail, pick
        assert channels_of(html) == ["operations"]
        assert_no_raw_markup(html)


def test_search_form_finds_logs_with_escaped_snippets(junction_client: Any) -> None:
    c = junction_client
    c.post("/api/builds/logs", json={"name": "lxml", "version": "5.1.0", "content": GCC_LOG})
    c.post("/api/builds/logs", json={"name": "six", "version": "1.0", "content": "all fine"})
    html = page(c, "?q=compilation")
    results = section(html, "builds-search")
    assert results.count("<li data-log-id=") == 1
    assert 'href="/api/builds/logs/lxml/5.1.0"' in results
    assert "<mark>compilation</mark> terminated &lt;img src=x" in results
    assert 'value="compilation"' in results
    assert_no_raw_markup(html)

    hostile = page(c, "?q=" + HOSTILE.replace("&", "%26"))
    assert_no_raw_markup(hostile)
    assert "&lt;script&gt;" in section(hostile, "builds-search")
    assert "No log matches nothing-like-this" in page(c, "?q=nothing-like-this")
    assert "Search for at most" in page(c, "?q=" + "x" * 300)


def test_snippet_parts_split_marks_from_text() -> None:
    assert console.snippet_parts("a &lt;b&gt; <mark>word</mark> &amp; c") == [
        (False, "a <b> "),
        (True, "word"),
        (False, " & c"),
    ]


def test_fragment_is_the_body_alone(junction_client: Any) -> None:
    _append(junction_client, "pkg", "1.0", "hello\n")
    fragment = page(junction_client, "?fragment=1&tail=pkg==1.0")
    assert "<nav" not in fragment and 'id="builds-tail"' in fragment
    assert "hello" in fragment and 'id="builds-queue"' in fragment
