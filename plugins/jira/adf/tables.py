"""Tables: `<table>` -> `table` of `tableRow`s of `tableHeader` (`<th>`) / `tableCell` (`<td>`).

* `colspan` / `rowspan` become cell attrs (only when above 1; capped at `MAX_SPAN`; a rowspan
  running past the last row is shortened).
* Ragged rows are padded with empty cells so every row covers the same number of columns.
* Cells hold blocks: inline content is wrapped in a paragraph, an empty cell gets an empty
  paragraph, lists, code, quotes and headings stay; a table inside a cell is lifted out and
  placed after the outer table (the converter queues it).
* A `<caption>` and any content outside the rows become paragraphs before the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .blocks import Blocks, Context, empty_paragraph
from .tree import Element

if TYPE_CHECKING:
    from .marks import Marks
    from .walker import Walker

MAX_SPAN = 50
_SECTIONS = frozenset(("thead", "tbody", "tfoot"))
_IGNORED = frozenset(("colgroup", "col"))


def _span(cell: Element, name: str, conv: Walker) -> int:
    raw = cell.attrs.get(name, "").strip()
    if not raw.isdigit():
        return 1
    value = int(raw)
    if value > MAX_SPAN:
        conv.warnings.add("table_span_clamped", f"a {name} of {value} was capped at {MAX_SPAN}")
        return MAX_SPAN
    return max(value, 1)


def convert_table(conv: Walker, el: Element, b: Blocks, marks: Marks) -> None:
    """Add the table for `el` to `b` (a document-level builder), with anything moved out of it."""
    b.flush()
    rows: list[list[Element]] = []
    outside: list[Element | str] = []

    def take_rows(parent: Element) -> None:
        for child in parent.children:
            if isinstance(child, str):
                if child.strip():
                    outside.append(child)
            elif child.tag == "tr":
                cells = []
                for cell in child.children:
                    if isinstance(cell, Element) and cell.tag in ("td", "th"):
                        cells.append(cell)
                    elif not isinstance(cell, str) or cell.strip():
                        outside.append(cell)
                if cells:
                    rows.append(cells)
            elif child.tag in _SECTIONS:
                take_rows(child)
            elif child.tag in ("td", "th"):  # a cell without a row: give it one
                rows.append([child])
            elif child.tag == "caption":
                outside.insert(0, Element("p", {}, [Element("strong", {}, child.children)]))
            elif child.tag not in _IGNORED:
                outside.append(child)

    take_rows(el)
    if outside:
        conv.warnings.add(
            "table_content_moved",
            "a table caption or content outside the table's cells was placed before the table",
        )
        conv.walk_children(Element("div", {}, outside), b, marks)
        b.flush()
    if not rows:
        conv.warnings.add("empty_element_dropped", "a table without cells was dropped")
        return
    b.add_block(
        {
            "type": "table",
            "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
            "content": _rows(conv, rows, marks),
        }
    )


def _rows(conv: Walker, rows: list[list[Element]], marks: Marks) -> list[dict[str, Any]]:
    occupied: set[tuple[int, int]] = set()
    out_rows: list[list[dict[str, Any]]] = []
    for r, cells in enumerate(rows):
        out_cells = []
        col = 0
        for cell in cells:
            while (r, col) in occupied:
                col += 1
            colspan = _span(cell, "colspan", conv)
            rowspan = _span(cell, "rowspan", conv)
            if r + rowspan > len(rows):
                rowspan = len(rows) - r
                conv.warnings.add(
                    "table_span_clamped", "a rowspan running past the last row was shortened"
                )
            for dr in range(rowspan):
                for dc in range(colspan):
                    occupied.add((r + dr, col + dc))
            col += colspan
            out_cells.append(_cell(conv, cell, marks, colspan, rowspan))
        out_rows.append(out_cells)
    width = max(c for _, c in occupied) + 1
    padded = 0
    for r, out_cells in enumerate(out_rows):
        missing = width - sum(1 for c in range(width) if (r, c) in occupied)
        for _ in range(missing):
            out_cells.append({"type": "tableCell", "content": [empty_paragraph()]})
        padded += missing
    if padded:
        conv.warnings.add(
            "table_cells_added", f"{padded} empty cell(s) added to even out ragged table rows"
        )
    return [{"type": "tableRow", "content": cells} for cells in out_rows]


def _cell(conv: Walker, cell: Element, marks: Marks, colspan: int, rowspan: int) -> dict[str, Any]:
    inner = Blocks(Context.CELL, conv.warnings)
    conv.walk_children(cell, inner, marks)
    inner.flush()
    node: dict[str, Any] = {"type": "tableHeader" if cell.tag == "th" else "tableCell"}
    attrs = {}
    if colspan > 1:
        attrs["colspan"] = colspan
    if rowspan > 1:
        attrs["rowspan"] = rowspan
    if attrs:
        node["attrs"] = attrs
    node["content"] = inner.out or [empty_paragraph()]
    return node
