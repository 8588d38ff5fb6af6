"""Block assembly: where ADF allows which block, and the inline flow that becomes paragraphs.

A `Blocks` builder collects the blocks of one container (the document, a list item, a quote,
a table cell, a panel). Inline content accumulates until a block boundary, then becomes a
paragraph or heading. Each container admits only what Atlassian's schema allows in it and
repairs the rest: a heading where headings are not allowed becomes a bold paragraph, a quote
or panel inside a list item or quote is unwrapped, a rule there is dropped.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from .text import TextRun, normalize_inline

if TYPE_CHECKING:
    from .marks import Marks
    from .result import WarningLog


class Context(Enum):
    """The kind of container a `Blocks` builder fills."""

    DOC = "doc"
    LIST_ITEM = "listItem"
    QUOTE = "blockquote"
    CELL = "tableCell"
    PANEL = "panel"


_ALL = frozenset(
    [
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "blockquote",
        "rule",
        "table",
        "mediaSingle",
        "panel",
    ]
)
ALLOWED: dict[Context, frozenset[str]] = {
    Context.DOC: _ALL,
    Context.LIST_ITEM: frozenset(
        ["paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"]
    ),
    Context.QUOTE: frozenset(
        ["paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"]
    ),
    Context.CELL: _ALL - {"table"},
    Context.PANEL: frozenset(
        ["paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule", "mediaSingle"]
    ),
}
_WHERE = {
    Context.LIST_ITEM: "a list item",
    Context.QUOTE: "a quote",
    Context.CELL: "a table cell",
    Context.PANEL: "a panel",
}


def _bold(node: dict[str, Any]) -> dict[str, Any]:
    """A text node with `strong` added (code text excepted: code takes no strong)."""
    if node.get("type") != "text":
        return node
    marks = node.get("marks", [])
    if any(m["type"] in ("code", "strong") for m in marks):
        return node
    return {**node, "marks": [*marks, {"type": "strong"}]}


def _merge(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join neighbouring text nodes whose ADF marks are equal (one node per change)."""
    out: list[dict[str, Any]] = []
    for node in nodes:
        last = out[-1] if out else None
        if (
            last is not None
            and node["type"] == last["type"] == "text"
            and node.get("marks") == last.get("marks")
        ):
            out[-1] = {**last, "text": last["text"] + node["text"]}
        else:
            out.append(node)
    return out


def empty_paragraph() -> dict[str, Any]:
    """An empty paragraph (a blank line; valid ADF)."""
    return {"type": "paragraph", "content": []}


class Blocks:
    """The blocks of one container, built in document order."""

    def __init__(self, context: Context, warnings: WarningLog, on_block: Any = None) -> None:
        self.context = context
        self.warnings = warnings
        self.out: list[dict[str, Any]] = []
        self.inline: list[TextRun | dict[str, Any]] = []
        # Set while inside <h1>..<h6>: the inline flow then becomes a heading of this level.
        self.heading_level: int | None = None
        self._on_block = on_block

    @property
    def emitted(self) -> int:
        """How many blocks this builder has produced (to tell whether an element gave any)."""
        return len(self.out)

    def add_text(self, text: str, marks: Marks) -> None:
        """Append inline text (whitespace is collapsed when the line is flushed)."""
        if text:
            self.inline.append(TextRun(text, marks))

    def add_inline(self, node: dict[str, Any]) -> None:
        """Append an inline node (hardBreak, mention, emoji)."""
        self.inline.append(node)

    def flush(self) -> bool:
        """Turn the pending inline flow into a paragraph or heading; True if one was made."""
        items, self.inline = self.inline, []
        level = self.heading_level
        flatten = level is not None and "heading" not in ALLOWED[self.context]
        if flatten:
            items = [
                TextRun(i.text, i.marks.bold()) if isinstance(i, TextRun) else i for i in items
            ]
        items = normalize_inline(items)
        if not items:
            return False
        content = _merge([self._render(item) for item in items])
        if level is None or flatten:
            if flatten:
                self.warnings.add(
                    "heading_flattened",
                    f"a heading inside {_WHERE[self.context]} became a bold paragraph "
                    "(ADF allows no heading there)",
                )
            self._append({"type": "paragraph", "content": content})
        else:
            self._append({"type": "heading", "attrs": {"level": level}, "content": content})
        return True

    def _render(self, item: TextRun | dict[str, Any]) -> dict[str, Any]:
        if isinstance(item, TextRun):
            node: dict[str, Any] = {"type": "text", "text": item.text}
            marks = item.marks.to_adf(self.warnings)
            if marks:
                node["marks"] = marks
            return node
        return item

    def add_block(self, node: dict[str, Any]) -> None:
        """Add a finished block node, repairing it if this container does not allow it."""
        self.flush()
        kind = node["type"]
        if kind in ALLOWED[self.context]:
            self._append(node)
        elif kind in ("blockquote", "panel"):
            self.warnings.add(
                f"{kind}_unwrapped",
                f"a {'quote' if kind == 'blockquote' else 'panel'} inside "
                f"{_WHERE[self.context]} was unwrapped (ADF does not allow it there)",
            )
            for child in node["content"]:
                self.add_block(child)
        elif kind == "heading":
            self.warnings.add(
                "heading_flattened",
                f"a heading inside {_WHERE[self.context]} became a bold paragraph "
                "(ADF allows no heading there)",
            )
            content = [_bold(child) for child in node.get("content", [])]
            self._append({"type": "paragraph", "content": content})
        elif kind == "rule":
            self.warnings.add(
                "rule_dropped",
                f"a horizontal rule inside {_WHERE[self.context]} was dropped "
                "(ADF does not allow it there)",
            )
        else:  # not reachable from the converter; kept so a bug cannot produce invalid ADF
            self.warnings.add("element_dropped", f"a {kind} could not be placed and was dropped")

    def _append(self, node: dict[str, Any]) -> None:
        self.out.append(node)
        if self._on_block is not None:
            self._on_block()
