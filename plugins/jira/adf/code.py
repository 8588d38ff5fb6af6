"""Code blocks: `<pre>` (with or without `<code>`) -> `codeBlock`, language from the class.

ADF code blocks hold one unmarked text node: formatting and links inside `<pre>` are dropped
(with a warning), `<br>` becomes a newline, the newline HTML ignores after `<pre>` and the
trailing newlines are removed. The language comes from `class="language-x"` (or `lang-x`,
highlight.js/Prism conventions) on the `<pre>` or its `<code>`, or `data-language`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .elements import DROPPED
from .marks import CODE_TAGS, EM_TAGS, STRIKE_TAGS, STRONG_TAGS, UNDERLINE_TAGS, Marks
from .text import sanitize
from .tree import Element

if TYPE_CHECKING:
    from .blocks import Blocks
    from .walker import Walker

_LANGUAGE_CLASS = re.compile(r"^(?:language|lang)-([A-Za-z0-9_+#.\-]{1,40})$")
_LANGUAGE_VALUE = re.compile(r"^[A-Za-z0-9_+#.\-]{1,40}$")
_FORMATTING = STRONG_TAGS | EM_TAGS | UNDERLINE_TAGS | STRIKE_TAGS | {"sub", "sup", "mark", "a"}
_BLOCKISH = frozenset(
    [
        "div",
        "p",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "blockquote",
        "table",
        "ul",
        "ol",
    ]
)


def language_of(element: Element) -> str | None:
    """The code language declared on `element` (or None)."""
    for token in element.attrs.get("class", "").split():
        if m := _LANGUAGE_CLASS.match(token):
            return m.group(1).lower()
    for name in ("data-language", "data-lang", "lang"):
        value = element.attrs.get(name, "").strip()
        if name != "lang" and _LANGUAGE_VALUE.match(value):
            return value.lower()
    return None


def convert_code_block(conv: Walker, el: Element, b: Blocks, marks: Marks) -> None:
    """Add the code block for `<pre>` element `el` to `b`."""
    parts: list[str] = []
    formatting = [marks.has_formatting() or bool(marks.link)]
    language = language_of(el)

    def collect(node: Element) -> None:
        nonlocal language
        for child in node.children:
            if isinstance(child, str):
                parts.append(child)
                continue
            tag = child.tag
            if tag in DROPPED:
                conv.warnings.add("element_dropped", f"<{tag}> and its content were dropped")
                continue
            if tag == "br":
                parts.append("\n")
                continue
            if tag in CODE_TAGS and language is None:
                language = language_of(child)
            elif tag in _FORMATTING or "style" in child.attrs:
                formatting[0] = True
            if tag in _BLOCKISH and parts and not parts[-1].endswith("\n"):
                parts.append("\n")
            collect(child)
            if tag in _BLOCKISH and parts and not parts[-1].endswith("\n"):
                parts.append("\n")

    collect(el)
    text, changed = sanitize("".join(parts).replace("\r\n", "\n").replace("\r", "\n"))
    if changed:
        conv.warnings.add("control_characters_removed", "invisible control characters removed")
    text = text.removeprefix("\n").rstrip("\n")
    if not text.strip():
        conv.warnings.add("empty_element_dropped", "an empty code block was dropped")
        return
    if formatting[0]:
        conv.warnings.add(
            "code_block_formatting_dropped",
            "formatting and links inside a code block were dropped (ADF code blocks take none)",
        )
    node: dict[str, Any] = {"type": "codeBlock"}
    if language:
        node["attrs"] = {"language": language}
    node["content"] = [{"type": "text", "text": text}]
    b.add_block(node)
