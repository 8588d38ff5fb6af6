"""Random HTML (well-formed or not) never makes the converter raise or emit invalid ADF."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.jira.adf import html_to_adf, validate_adf

from .test_adf_rules import assert_clean

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free

TAGS = [
    "p",
    "div",
    "span",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "del",
    "sub",
    "sup",
    "code",
    "kbd",
    "a",
    "pre",
    "h1",
    "h2",
    "h3",
    "h6",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "caption",
    "blockquote",
    "hr",
    "br",
    "img",
    "script",
    "style",
    "iframe",
    "mark",
    "font",
    "dl",
    "dt",
    "dd",
    "section",
    "input",
    "select",
    "option",
    "svg",
]
ATTR_CHOICES = [
    "",
    ' href="https://example.com/x"',
    ' href="javascript:alert(1)"',
    ' href="/rel"',
    ' src="https://example.com/i.png" alt="pic"',
    ' src="data:image/png;base64,AA=="',
    ' class="language-python"',
    ' start="-3"',
    ' start="4"',
    ' colspan="3"',
    ' rowspan="99"',
    ' style="color:#123456;font-weight:bold"',
    ' data-mention-id="abc"',
    ' data-emoji-short-name=":x:"',
    ' data-panel-type="info"',
    ' type="checkbox" checked',
]
ATTRS = st.sampled_from(ATTR_CHOICES)
TEXT_CHOICES = [*list("ab &;<>\n\t\xa0é😀\x00\x07"), "&amp;", "&nbsp;", "&#x1F600;"]
TEXT = st.lists(st.sampled_from(TEXT_CHOICES), max_size=8).map("".join)


@st.composite
def tokens(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    tag = draw(st.sampled_from(TAGS))
    if kind == 0:
        return f"<{tag}{draw(ATTRS)}>"
    if kind == 1:
        return f"</{tag}>"
    return draw(TEXT)


random_html = st.lists(tokens(), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_html)
def test_random_tag_soup_gives_valid_adf(html: str) -> None:
    result = html_to_adf(html)
    assert validate_adf(result.adf) == []
    assert_clean(result.adf)
    assert 0.0 <= result.character_reduction <= 1.0
    assert all(w.code != "fallback_plain_text" for w in result.warnings)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_gives_valid_adf(text: str) -> None:
    result = html_to_adf(text)
    assert validate_adf(result.adf) == []
    assert_clean(result.adf)
