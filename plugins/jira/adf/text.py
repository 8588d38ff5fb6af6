"""Text: sanitising characters, collapsing whitespace as a browser does, counting characters.

Entities are decoded by the tokenizer (`&amp;`, `&nbsp;`, `&#x1F600;`...); emoji are plain
Unicode text in ADF, so they pass through untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# HTML's ASCII whitespace: collapsed to one space outside <pre>. U+00A0 (&nbsp;) is not.
_HTML_SPACE_RUN = re.compile(r"[ \t\n\r\f]+")
# Control characters that are not whitespace: invisible in a browser, risky in Jira.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NON_SPACE = re.compile(r"\S")


def sanitize(text: str) -> tuple[str, int]:
    """Remove control characters and replace lone surrogates; return (text, characters changed)."""
    text, removed = _CONTROL.subn("", text)
    text, replaced = _SURROGATE.subn("\ufffd", text)
    return text, removed + replaced


def collapse(text: str) -> str:
    """Collapse runs of HTML whitespace into one space (what `white-space: normal` shows)."""
    return _HTML_SPACE_RUN.sub(" ", text)


def count_visible(text: str) -> int:
    """Characters that are not whitespace: the unit of `character_reduction`."""
    return len(_NON_SPACE.findall(text))


@dataclass
class TextRun:
    """A run of inline text with the marks in effect (a `marks.Marks`)."""

    text: str
    marks: Any


HARD_BREAK: dict[str, Any] = {"type": "hardBreak"}


def is_break(item: object) -> bool:
    """True for the hardBreak inline node."""
    return isinstance(item, dict) and item.get("type") == "hardBreak"


def normalize_inline(items: list[TextRun | dict[str, Any]]) -> list[TextRun | dict[str, Any]]:
    """Lay out one line box the way a browser does and drop what would render as nothing.

    Whitespace runs become one space, a space right after another space (across element
    boundaries too) or at the start of a line disappears, spaces before a line break and at
    the end disappear, and one trailing `<br>` is dropped (it ends the line it is on, it does
    not add one). Empty runs are removed, so no empty text node can come out.
    """
    out: list[TextRun | dict[str, Any]] = []
    at_line_start = True
    prev_space = False
    for item in items:
        if isinstance(item, TextRun):
            text = collapse(item.text)
            if text.startswith(" ") and (at_line_start or prev_space):
                text = text[1:]
            if not text:
                continue
            out.append(TextRun(text, item.marks))
            at_line_start = False
            prev_space = text.endswith(" ")
        elif is_break(item):
            _strip_trailing_space(out)
            out.append(item)
            at_line_start, prev_space = True, False
        else:
            out.append(item)
            at_line_start, prev_space = False, False
    _strip_trailing_space(out)
    if out and is_break(out[-1]):
        out.pop()
    return out


def _strip_trailing_space(out: list[TextRun | dict[str, Any]]) -> None:
    if out and isinstance(out[-1], TextRun) and out[-1].text.endswith(" "):
        out[-1].text = out[-1].text[:-1]
        if not out[-1].text:
            out.pop()


def adf_text_characters(node: Any) -> int:
    """Visible characters of an ADF tree: text nodes, mention and emoji text."""
    total = 0
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            kind = current.get("type")
            if kind == "text":
                total += count_visible(current.get("text", ""))
            elif kind in ("mention", "emoji"):
                attrs = current.get("attrs", {})
                total += count_visible(attrs.get("text") or attrs.get("shortName", ""))
            stack.extend(current.get("content", []))
    return total
