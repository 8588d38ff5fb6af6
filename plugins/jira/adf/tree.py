"""A forgiving HTML tree builder on the standard library's `html.parser`.

`html.parser` only tokenises; this module builds the element tree a browser would build for
the HTML a ticket description contains, closely enough for conversion: void elements, the
end tags HTML lets you omit (`p`, `li`, `td`, `tr`...), stray end tags ignored, unclosed
elements closed at the end. Repairs of real mistakes are reported as `html_repaired`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from .result import WarningLog

VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "keygen",
    ]
)
# Elements whose end tag HTML lets you omit: closing them implicitly is not a mistake.
OPTIONAL_END = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "td",
        "th",
        "tr",
        "thead",
        "tbody",
        "tfoot",
        "option",
        "optgroup",
        "colgroup",
        "caption",
        "rt",
        "rp",
        "html",
        "head",
        "body",
    ]
)
# Opening one of these closes an open <p> (HTML's "close a p element").
CLOSES_P = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "ul",
    ]
)
HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
TABLE_BOUNDARY = frozenset(("table", "template"))
LIST_BOUNDARY = frozenset(("ul", "ol", "menu", "dir", "table", "td", "th"))
P_BOUNDARY = frozenset(("table", "td", "th", "caption", "button", "template", "object"))
# Deeper nesting than this is flattened: it keeps recursion in the converter and in schema
# validation bounded for hostile input (no real description nests 100 elements).
MAX_DEPTH = 100


@dataclass
class Element:
    """One HTML element: lower-case tag, attributes, children (elements and text strings)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    def text_content(self) -> str:
        """All descendant text, concatenated (like the DOM's `textContent`)."""
        parts: list[str] = []
        stack: list[Element | str] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                parts.append(node)
            else:
                stack.extend(reversed(node.children))
        return "".join(parts)


class _TreeBuilder(HTMLParser):
    def __init__(self, warnings: WarningLog) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root")
        self.stack: list[Element] = [self.root]
        self.warnings = warnings
        self.ignored_depth = 0

    # -- helpers -------------------------------------------------------------------------
    def _find_open(self, tags: frozenset[str] | set[str], boundary: frozenset[str]) -> int:
        """Index in the stack of the nearest open element in `tags`, or -1 past `boundary`."""
        for i in range(len(self.stack) - 1, 0, -1):
            tag = self.stack[i].tag
            if tag in tags:
                return i
            if tag in boundary:
                return -1
        return -1

    def _pop_to(self, index: int, reason: str) -> None:
        for element in self.stack[index + 1 :]:
            if element.tag not in OPTIONAL_END:
                self.warnings.add("html_repaired", f"closed <{element.tag}> left open {reason}")
        del self.stack[index:]

    def _append(self, element: Element, push: bool) -> None:
        self.stack[-1].children.append(element)
        if push:
            self.stack.append(element)

    # -- HTMLParser callbacks ------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], self_closing: bool) -> None:
        if tag in ("html", "body"):
            if tag == "body" and (i := self._find_open({"head"}, frozenset())) > 0:
                del self.stack[i:]
            return
        self._close_implied(tag)
        if len(self.stack) > MAX_DEPTH and tag not in VOID:
            # Too deep: keep the content, drop the element (its formatting or structure).
            if not self_closing:
                self.ignored_depth += 1
            self.warnings.add("html_repaired", f"flattened elements nested over {MAX_DEPTH} deep")
            return
        element = Element(tag, {name: (value or "") for name, value in attrs})
        self._append(element, push=not (self_closing or tag in VOID))

    def _close_implied(self, tag: str) -> None:
        if tag in CLOSES_P and (i := self._find_open({"p"}, P_BOUNDARY)) > 0:
            self._pop_to(i, f"before <{tag}>")
        if tag in HEADINGS and self.stack[-1].tag in HEADINGS:
            self.warnings.add("html_repaired", f"closed <{self.stack[-1].tag}> before <{tag}>")
            self.stack.pop()
        if tag == "li" and (i := self._find_open({"li"}, LIST_BOUNDARY)) > 0:
            self._pop_to(i, "before the next <li>")
        elif (tag in ("dt", "dd") and (i := self._find_open({"dt", "dd"}, LIST_BOUNDARY)) > 0) or (
            tag in ("td", "th") and (i := self._find_open({"td", "th"}, TABLE_BOUNDARY)) > 0
        ):
            self._pop_to(i, f"before <{tag}>")
        elif tag == "tr" and (i := self._find_open({"tr"}, TABLE_BOUNDARY)) > 0:
            self._pop_to(i, "before the next <tr>")
        elif tag in ("thead", "tbody", "tfoot", "caption", "colgroup"):
            i = self._find_open({"thead", "tbody", "tfoot", "caption", "colgroup"}, TABLE_BOUNDARY)
            if i > 0:
                self._pop_to(i, f"before <{tag}>")
        elif tag == "a" and (i := self._find_open({"a"}, TABLE_BOUNDARY)) > 0:
            self._pop_to(i, "before a nested <a>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("html", "body"):
            return
        if tag in VOID:
            if tag == "br":  # browsers read </br> as <br>
                self._append(Element("br"), push=False)
            return
        boundary = TABLE_BOUNDARY if tag not in TABLE_BOUNDARY else frozenset()
        i = self._find_open({tag}, boundary)
        if i > 0:
            self._pop_to(i, f"before </{tag}>")
        elif self.ignored_depth and len(self.stack) > MAX_DEPTH:
            self.ignored_depth -= 1
        else:
            self.warnings.add("html_repaired", f"ignored a stray </{tag}>")

    def handle_data(self, data: str) -> None:
        children = self.stack[-1].children
        if children and isinstance(children[-1], str):
            children[-1] += data
        else:
            children.append(data)

    def finish(self) -> Element:
        self.close()
        for element in self.stack[1:]:
            if element.tag not in OPTIONAL_END and element.tag not in ("script", "style"):
                self.warnings.add("html_repaired", f"closed <{element.tag}> left open at the end")
        return self.root


def parse_html(html: str, warnings: WarningLog) -> Element:
    """Parse `html` into an `Element` tree under a `#root` element; never raises."""
    builder = _TreeBuilder(warnings)
    try:
        builder.feed(html)
        return builder.finish()
    except Exception:  # html.parser is lenient, but never let a tokeniser bug become a 500
        warnings.add("html_repaired", "the HTML could not be parsed; its text was kept as is")
        root = Element("#root")
        root.children.append(html)
        return root
