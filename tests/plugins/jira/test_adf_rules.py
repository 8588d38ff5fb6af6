"""The converter's rules, asserted on their own (beyond the corpus's whole-document snapshots)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plugins.jira.adf import html_to_adf, validate_adf

from .adf_corpus_support import corpus_names, read_html

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free


def walk(node: Any) -> Any:
    """Every dict in an ADF tree."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def assert_clean(adf: dict[str, Any]) -> None:
    """No empty text, no empty marks array, no empty attrs; code only with link."""
    for node in walk(adf):
        if node.get("type") == "text":
            assert node["text"] != ""
        assert node.get("marks", None) != []
        assert node.get("attrs", None) != {}
        kinds = {m["type"] for m in node.get("marks", [])}
        if "code" in kinds:
            assert kinds <= {"code", "link"}


@pytest.mark.parametrize("name", corpus_names())
def test_corpus_outputs_have_no_empty_nodes_marks_or_attrs(name: str) -> None:
    assert_clean(html_to_adf(read_html(name)).adf)


def doc(html: str, **kwargs: Any) -> list[dict[str, Any]]:
    result = html_to_adf(html, **kwargs)
    assert validate_adf(result.adf) == []
    return result.adf["content"]


def codes(html: str, **kwargs: Any) -> set[str]:
    return {w.code for w in html_to_adf(html, **kwargs).warnings}


def test_code_combines_only_with_link_and_says_so() -> None:
    [para] = doc('<p><a href="https://x.org"><b><code>c</code></b></a></p>')
    assert para["content"][0]["marks"] == [
        {"type": "link", "attrs": {"href": "https://x.org"}},
        {"type": "code"},
    ]
    assert "code_formatting_dropped" in codes("<b><code>c</code></b>")


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " JAVASCRIPT:alert(1)",
        "java\nscript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "data:text/html,<b>x</b>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "livescript:x",
    ],
)
def test_unsafe_links_are_dropped_text_kept(href: str) -> None:
    [para] = doc(f'<p><a href="{href}">click</a></p>')
    assert para["content"] == [{"type": "text", "text": "click"}]
    assert "link_unsafe_dropped" in codes(f'<a href="{href}">click</a>')


def test_relative_links_resolve_against_base_url_or_are_dropped() -> None:
    [para] = doc('<a href="/browse/X-1">x</a>', base_url="https://jira.example.com/a/")
    assert para["content"][0]["marks"][0]["attrs"]["href"] == "https://jira.example.com/browse/X-1"
    [para] = doc('<a href="/browse/X-1">x</a>')
    assert "marks" not in para["content"][0]
    assert "link_relative_dropped" in codes('<a href="/browse/X-1">x</a>')


def test_ordered_list_order_comes_from_start() -> None:
    [ol] = doc('<ol start="7"><li>a</li></ol>')
    assert ol["attrs"] == {"order": 7}


def test_hard_breaks_only_inside_inline_containers() -> None:
    html = "<br><div><br></div><ul><li><br></li></ul><table><tr><td>a<br>b</td></tr></table><br>"
    result = html_to_adf(html)
    assert validate_adf(result.adf) == []
    for node in walk(result.adf):
        for child in node.get("content", []):
            if child["type"] == "hardBreak":
                assert node["type"] in ("paragraph", "heading")


def test_headings_in_list_items_and_quotes_become_bold_paragraphs() -> None:
    [ul, quote] = doc("<ul><li><h2>H</h2></li></ul><blockquote><h1>Q</h1></blockquote>")
    para = ul["content"][0]["content"][0]
    assert para == {
        "type": "paragraph",
        "content": [{"type": "text", "text": "H", "marks": [{"type": "strong"}]}],
    }
    assert quote["content"][0]["content"][0]["marks"] == [{"type": "strong"}]


def test_nested_table_is_lifted_after_its_table() -> None:
    content = doc("<table><tr><td>a<table><tr><td>b</td></tr></table></td></tr></table><p>c</p>")
    assert [n["type"] for n in content] == ["table", "table", "paragraph"]
    assert json.dumps(content[1]).count('"b"') == 1
    assert '"b"' not in json.dumps(content[0])


def test_script_and_style_dropped_with_a_warning() -> None:
    result = html_to_adf("<p>a</p><script>var secret = 1;</script><style>p{}</style>")
    assert "secret" not in json.dumps(result.adf)
    messages = " ".join(w.message for w in result.warnings)
    assert "<script>" in messages and "<style>" in messages
    assert result.character_reduction == 0.0  # invisible text is not "lost"


def test_character_reduction_is_the_share_of_visible_text_lost() -> None:
    result = html_to_adf("<p>abcd</p><select><option>efgh</option></select>")
    assert (result.source_characters, result.adf_characters) == (8, 4)
    assert result.character_reduction == 0.5
    assert html_to_adf("<p>all <b>kept</b></p>").character_reduction == 0.0
    assert html_to_adf("").character_reduction == 0.0


def test_adf_size_is_the_compact_utf8_json() -> None:
    result = html_to_adf("<p>é</p>")
    compact = json.dumps(result.adf, ensure_ascii=False, separators=(",", ":"))
    assert result.adf_size_bytes == len(compact.encode("utf-8"))


def test_warnings_are_merged_with_counts() -> None:
    result = html_to_adf('<a href="javascript:1">a</a>' * 3)
    [warning] = [w for w in result.warnings if w.code == "link_unsafe_dropped"]
    assert warning.count == 3
    assert warning.to_dict() == {"code": warning.code, "message": warning.message, "count": 3}


def test_conversion_to_dict_is_the_preview_shape() -> None:
    body = html_to_adf("<p>x</p>").to_dict()
    assert set(body) == {"adf", "warnings", "adf_size_bytes", "character_reduction"}


def test_validate_adf_reports_schema_errors() -> None:
    assert validate_adf({"type": "doc", "version": 1, "content": []}) == []
    bad = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
    }
    errors = validate_adf(bad)
    assert errors and "content" in errors[0]
    assert validate_adf({"type": "doc"}) != []
    assert validate_adf("not a document") != []


def test_images_become_media_single_with_external_media() -> None:
    [media_single] = doc('<img src="https://x.org/a.png" alt="A">')
    assert media_single == {
        "type": "mediaSingle",
        "attrs": {"layout": "center"},
        "content": [
            {
                "type": "media",
                "attrs": {"type": "external", "url": "https://x.org/a.png", "alt": "A"},
            }
        ],
    }


def test_deeply_nested_garbage_stays_valid() -> None:
    html = "<b><i><div><ul><li><table><tr><td><blockquote>" * 60 + "x"
    result = html_to_adf(html)
    assert validate_adf(result.adf) == []
    assert "html_repaired" in {w.code for w in result.warnings}


def test_fast_validator_agrees_with_plain_draft4() -> None:
    # validate_adf skips anyOf branches for other node kinds (for speed); verdicts must match.
    from jsonschema import Draft4Validator

    from plugins.jira.adf import adf_schema

    plain = Draft4Validator(adf_schema())
    text = {"type": "text", "text": "x"}
    samples = [
        html_to_adf(read_html(name)).adf for name in ("15_table_basic", "49_ticket_description")
    ] + [
        {
            "type": "doc",
            "version": 1,
            "content": [
                {
                    "type": "paragraph",
                    "content": [{**text, "marks": [{"type": "code"}, {"type": "strong"}]}],
                }
            ],
        },
        {
            "type": "doc",
            "version": 1,
            "content": [
                {
                    "type": "bulletList",
                    "content": [
                        {
                            "type": "listItem",
                            "content": [{"type": "heading", "attrs": {"level": 1}}],
                        }
                    ],
                }
            ],
        },
        {"type": "doc", "version": 1, "content": [{"type": "hardBreak"}]},
        {"type": "doc", "version": 1, "content": [{"type": "rule", "attrs": {}}]},
    ]
    for sample in samples:
        assert (validate_adf(sample) == []) == plain.is_valid(sample)
