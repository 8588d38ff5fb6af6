"""Lists: `<ul>`/`<ol>` -> `bulletList`/`orderedList` of `listItem`s, nested to any sane depth.

* `<ol start=N>` gives `attrs.order` N (ADF's minimum is 0).
* Inline content directly in an `<li>` is wrapped in a paragraph; a list item whose first
  block would be a list gets an empty paragraph first (the editor's content rule).
* A list nested directly in a list (no `<li>` around it, a common editor mistake) joins the
  previous item; other stray content in a list becomes an item of its own.
* Lists nested deeper than `MAX_LIST_DEPTH` are flattened into paragraphs of the deepest item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .blocks import Blocks, Context, empty_paragraph
from .tree import Element

if TYPE_CHECKING:
    from .marks import Marks
    from .walker import Walker

MAX_LIST_DEPTH = 8
_LISTS = frozenset(("ul", "ol", "menu", "dir"))
_ITEM_FIRST = frozenset(("paragraph", "codeBlock", "mediaSingle"))


def _order(el: Element, conv: Walker) -> int:
    raw = el.attrs.get("start", "").strip()
    try:
        order = int(raw) if raw else 1
    except ValueError:
        conv.warnings.add("list_start_ignored", f"list start {raw[:20]!r} is not a number: 1 used")
        return 1
    if order < 0:
        conv.warnings.add("list_order_clamped", f"list start {order} raised to 0 (ADF's minimum)")
        return 0
    return order


def convert_list(conv: Walker, el: Element, b: Blocks, marks: Marks) -> None:
    """Add the list for `el` (`ul`, `ol`, `menu`, `dir`) to `b`."""
    b.flush()
    if conv.list_depth >= MAX_LIST_DEPTH:
        conv.warnings.add(
            "list_depth_limited",
            f"lists nested deeper than {MAX_LIST_DEPTH} levels were flattened into paragraphs",
        )
        for child in el.children:
            if isinstance(child, Element) and child.tag == "li":
                b.flush()
                conv.walk_children(child, b, marks)
                b.flush()
            elif isinstance(child, Element):
                conv.walk(child, b, marks)
            else:
                conv.add_text(child, b, marks)
        b.flush()
        return
    conv.list_depth += 1
    try:
        items = _items(conv, el, marks)
    finally:
        conv.list_depth -= 1
    if not items:
        conv.warnings.add("empty_element_dropped", "an empty list was dropped")
        return
    node: dict[str, Any]
    if el.tag == "ol":
        node = {"type": "orderedList", "attrs": {"order": _order(el, conv)}, "content": items}
        if "reversed" in el.attrs:
            conv.warnings.add("list_reversed_ignored", "reversed numbering is not in ADF: ignored")
    else:
        node = {"type": "bulletList", "content": items}
    b.add_block(node)


def _items(conv: Walker, el: Element, marks: Marks) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    stray: list[Element | str] = []

    def flush_stray() -> None:
        if any(not isinstance(s, str) or s.strip() for s in stray):
            conv.warnings.add(
                "list_content_wrapped", "content directly inside a list was made a list item"
            )
            items.append(_item(conv, Element("li", {}, list(stray)), marks))
        stray.clear()

    for child in el.children:
        if isinstance(child, Element) and child.tag == "li":
            flush_stray()
            items.append(_item(conv, child, marks))
        elif isinstance(child, Element) and child.tag in _LISTS and items and not stray:
            # <ul><li>a</li><ul><li>a.1</li></ul></ul>: the nested list belongs to "a".
            conv.warnings.add(
                "html_repaired", "a list nested directly in a list was attached to the item above"
            )
            extra = Blocks(Context.LIST_ITEM, conv.warnings)
            conv.walk(child, extra, marks)
            extra.flush()
            items[-1]["content"].extend(extra.out)
        else:
            stray.append(child)
    flush_stray()
    return items


def _item(conv: Walker, li: Element, marks: Marks) -> dict[str, Any]:
    inner = Blocks(Context.LIST_ITEM, conv.warnings)
    conv.walk_children(li, inner, marks)
    inner.flush()
    content = inner.out
    if not content or content[0]["type"] not in _ITEM_FIRST:
        content.insert(0, empty_paragraph())
    return {"type": "listItem", "content": content}
