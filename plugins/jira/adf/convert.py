"""HTML -> ADF: the walk over the element tree.

`html_to_adf` parses the HTML (`tree.py`), walks it with the formatting in effect (`marks.py`)
into block builders (`blocks.py`), delegating lists (`lists.py`), tables (`tables.py`) and
code blocks (`code.py`), then checks the document against the ADF schema (`validate.py`).
"""

from __future__ import annotations

import json
from typing import Any

from . import code, lists, tables
from .blocks import Blocks, Context, empty_paragraph
from .elements import (
    BLOCK_CONTAINERS,
    DROPPED,
    FORM_CONTROLS,
    HEADINGS,
    LISTS,
    NOT_RENDERED,
    PANEL_TYPES,
)
from .marks import Marks
from .result import Conversion, WarningLog
from .text import HARD_BREAK, adf_text_characters, collapse, count_visible, sanitize
from .tree import Element, parse_html
from .urls import check_url
from .validate import validate_adf


class Converter:
    """One conversion: the warnings so far, the base URL, tables waiting to be lifted out."""

    def __init__(self, base_url: str | None = None) -> None:
        self.warnings = WarningLog()
        self.base_url = base_url
        self.list_depth = 0
        self._lifted: list[tuple[Element, Marks]] = []
        self._draining = False
        self._doc: Blocks | None = None
        self.source_characters = 0

    # -- entry point -----------------------------------------------------------------------
    def convert(self, html: str) -> dict[str, Any]:
        """The ADF document for `html`."""
        root = parse_html(html, self.warnings)
        self.source_characters = visible_source_characters(root)
        self._doc = Blocks(Context.DOC, self.warnings, on_block=self._drain_lifted)
        self.walk_children(root, self._doc, Marks())
        self._doc.flush()
        self._drain_lifted()
        return {"type": "doc", "version": 1, "content": self._doc.out}

    def lift(self, element: Element, marks: Marks, where: str) -> None:
        """Queue a table for the document level, after the top-level block being built."""
        self.warnings.add(
            "table_lifted",
            f"a table inside {where} was moved out, after it (ADF does not allow it there)",
        )
        self._lifted.append((element, marks))

    def _drain_lifted(self) -> None:
        if self._draining or self._doc is None:
            return
        self._draining = True
        try:
            while self._lifted:
                element, marks = self._lifted.pop(0)
                tables.convert_table(self, element, self._doc, marks)
        finally:
            self._draining = False

    # -- the walk --------------------------------------------------------------------------
    def walk_children(self, element: Element, b: Blocks, marks: Marks) -> None:
        """Walk the children of `element` into `b` (list items outside a list get one)."""
        children = element.children
        i = 0
        while i < len(children):
            child = children[i]
            if isinstance(child, str):
                self.add_text(child, b, marks)
            elif child.tag == "li":
                group: list[Element | str] = []
                while i < len(children):
                    node = children[i]
                    if isinstance(node, Element) and node.tag == "li":
                        group.append(node)
                    elif not (isinstance(node, str) and not node.strip()):
                        break
                    i += 1
                self.warnings.add("html_repaired", "list items outside a list were put in one")
                lists.convert_list(self, Element("ul", {}, group), b, marks)
                continue
            else:
                self.walk(child, b, marks)
            i += 1

    def add_text(self, text: str, b: Blocks, marks: Marks) -> None:
        """Add a text node's characters (sanitised) to the inline flow."""
        clean, changed = sanitize(text)
        if changed:
            self.warnings.add("control_characters_removed", "invisible control characters removed")
        b.add_text(clean, marks)

    def walk(self, el: Element, b: Blocks, marks: Marks) -> None:
        """Convert one element into `b`."""
        tag = el.tag
        if tag in DROPPED:
            self._dropped(el)
            return
        marks = marks.with_element(el, self.warnings, self.base_url)
        if "data-mention-id" in el.attrs:
            self._mention(el, b, marks)
        elif "data-emoji-short-name" in el.attrs:
            self._emoji(el, b, marks)
        elif tag == "br":
            b.add_inline(dict(HARD_BREAK))
        elif tag == "hr":
            b.add_block({"type": "rule"})
        elif tag == "img":
            self._image(el, b, marks)
        elif tag == "input":
            self._input(el, b, marks)
        elif tag in HEADINGS:
            self._heading(el, b, marks, HEADINGS[tag])
        elif tag == "p":
            self._paragraph(el, b, marks)
        elif tag in LISTS:
            lists.convert_list(self, el, b, marks)
        elif tag == "table":
            if b.context in (Context.DOC,):
                tables.convert_table(self, el, b, marks)
            else:
                self.lift(el, marks, _where(b.context))
        elif tag in ("pre", "xmp", "listing", "plaintext"):
            code.convert_code_block(self, el, b, marks)
        elif tag == "blockquote":
            self._container(el, b, marks, Context.QUOTE, {"type": "blockquote"})
        elif tag == "div" and el.attrs.get("data-panel-type", "").lower() in PANEL_TYPES:
            panel_type = el.attrs["data-panel-type"].lower()
            self._container(
                el, b, marks, Context.PANEL, {"type": "panel", "attrs": {"panelType": panel_type}}
            )
        elif tag in BLOCK_CONTAINERS:
            b.flush()
            if tag == "dt":
                marks = marks.bold()
            self.walk_children(el, b, marks)
            b.flush()
        else:  # inline elements, known or not: their content, with their marks
            self.walk_children(el, b, marks)

    # -- elements --------------------------------------------------------------------------
    def _dropped(self, el: Element) -> None:
        if el.tag in ("head", "meta", "link", "base", "title"):
            return  # document metadata, not content
        if el.tag in FORM_CONTROLS:
            self.warnings.add("form_control_dropped", f"a form control <{el.tag}> was dropped")
        else:
            self.warnings.add("element_dropped", f"<{el.tag}> and its content were dropped")

    def _heading(self, el: Element, b: Blocks, marks: Marks, level: int) -> None:
        b.flush()
        before, outer = b.emitted, b.heading_level
        b.heading_level = level
        try:
            self.walk_children(el, b, marks)
            b.flush()
        finally:
            b.heading_level = outer
        if b.emitted == before:
            self.warnings.add("empty_element_dropped", "an empty heading was dropped")

    def _paragraph(self, el: Element, b: Blocks, marks: Marks) -> None:
        b.flush()
        before = b.emitted
        self.walk_children(el, b, marks)
        b.flush()
        if b.emitted == before and b.heading_level is None and not el.text_content().strip():
            # An explicit empty paragraph (<p></p>, <p><br></p>) is a deliberate blank line.
            b.add_block(empty_paragraph())

    def _container(
        self, el: Element, b: Blocks, marks: Marks, context: Context, shell: dict[str, Any]
    ) -> None:
        b.flush()
        inner = Blocks(context, self.warnings)
        self.walk_children(el, inner, marks)
        inner.flush()
        if inner.out:
            b.add_block({**shell, "content": inner.out})
        else:
            self.warnings.add("empty_element_dropped", f"an empty {shell['type']} was dropped")

    def _image(self, el: Element, b: Blocks, marks: Marks) -> None:
        alt = collapse(sanitize(el.attrs.get("alt", ""))[0]).strip()
        src = el.attrs.get("src", "")
        verdict = check_url(src, self.base_url, image=True)
        if verdict.url is None:
            shown = src.strip()[:60] if not src.strip().lower().startswith("data:") else "data:…"
            kept = f", its alt text {alt!r} kept" if alt else ""
            self.warnings.add(
                "image_dropped",
                f"image {shown!r} dropped ({verdict.problem} URL; ADF takes only public "
                f"http(s) images){kept}",
            )
            if alt:
                b.add_text(alt, marks)
            return
        attrs: dict[str, Any] = {"type": "external", "url": verdict.url}
        if alt:
            attrs["alt"] = alt
        for name in ("width", "height"):
            value = el.attrs.get(name, "").strip().removesuffix("px")
            if value.isdigit() and 0 < int(value) <= 10000:
                attrs[name] = int(value)
        media: dict[str, Any] = {"type": "media", "attrs": attrs}
        if marks.link:
            media["marks"] = [{"type": "link", "attrs": {"href": marks.link}}]
        if b.heading_level is not None or b.inline:
            self.warnings.add(
                "image_moved", "an inline image was placed on its own line (ADF images are blocks)"
            )
        b.add_block({"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [media]})

    def _input(self, el: Element, b: Blocks, marks: Marks) -> None:
        kind = el.attrs.get("type", "text").lower()
        if kind == "checkbox":
            self.warnings.add("checkbox_as_text", "a checkbox was written as ☐/☑ text")
            b.add_text("☑ " if "checked" in el.attrs else "☐ ", marks)
        elif kind != "hidden":
            self.warnings.add(
                "form_control_dropped", f"a form control <input type={kind}> was dropped"
            )

    def _mention(self, el: Element, b: Blocks, marks: Marks) -> None:
        mention_id = el.attrs["data-mention-id"].strip()
        text = collapse(sanitize(el.text_content())[0]).strip()
        if not mention_id:
            self.warnings.add("mention_invalid", "a mention without an account id was kept as text")
            self.walk_children(el, b, marks)
            return
        attrs: dict[str, Any] = {"id": mention_id}
        if text:
            attrs["text"] = text
        access = el.attrs.get("data-access-level", "").strip()
        if access:
            attrs["accessLevel"] = access
        user_type = el.attrs.get("data-user-type", "").strip().upper()
        if user_type in ("DEFAULT", "SPECIAL", "APP"):
            attrs["userType"] = user_type
        b.add_inline({"type": "mention", "attrs": attrs})

    def _emoji(self, el: Element, b: Blocks, marks: Marks) -> None:
        short_name = el.attrs["data-emoji-short-name"].strip()
        text = el.attrs.get("data-emoji-text", "").strip() or collapse(el.text_content()).strip()
        if not short_name:
            self.walk_children(el, b, marks)
            return
        attrs: dict[str, Any] = {"shortName": short_name}
        emoji_id = el.attrs.get("data-emoji-id", "").strip()
        if emoji_id:
            attrs["id"] = emoji_id
        if text:
            attrs["text"] = sanitize(text)[0]
        b.add_inline({"type": "emoji", "attrs": attrs})


def _where(context: Context) -> str:
    return {
        Context.LIST_ITEM: "a list item",
        Context.QUOTE: "a quote",
        Context.CELL: "a table cell",
        Context.PANEL: "a panel",
    }.get(context, "a block")


def visible_source_characters(root: Element) -> int:
    """Visible (non-whitespace) characters of the HTML as a browser renders it."""
    total = 0
    stack: list[Element | str] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += count_visible(node)
        elif node.tag not in NOT_RENDERED:
            stack.extend(node.children)
    return total


def html_to_adf(html: str, *, base_url: str | None = None) -> Conversion:
    """Convert an HTML ticket description to an ADF document; never raises on bad HTML.

    `base_url`, when given, resolves relative links and images; without it they are
    dropped (their text kept) with a warning. The result carries the warnings, the ADF's
    size and the `character_reduction` (see `Conversion`).
    """
    converter = Converter(base_url)
    adf = converter.convert(html if isinstance(html, str) else str(html))
    errors = validate_adf(adf)
    if errors:  # a converter bug must not reach Jira as INVALID_INPUT: send the text instead
        converter.warnings.add(
            "fallback_plain_text",
            "the converted document failed ADF validation; its text was sent as plain "
            f"paragraphs ({errors[0][:120]})",
        )
        adf = plain_text_doc(html)
    source = converter.source_characters
    kept = adf_text_characters(adf)
    reduction = round(max(0, source - kept) / source, 4) if source else 0.0
    size = len(json.dumps(adf, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return Conversion(
        adf=adf,
        warnings=converter.warnings.to_list(),
        adf_size_bytes=size,
        character_reduction=reduction,
        source_characters=source,
        adf_characters=kept,
    )


def plain_text_doc(html: str) -> dict[str, Any]:
    """``html``'s text as one plain ADF paragraph (no marks, no structure): what is sent when
    a formatted description fails validation here or is refused by Jira."""
    root = parse_html(html, WarningLog())
    lines: list[str] = []
    stack: list[Element | str] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            lines.append(node)
        elif node.tag not in DROPPED:
            stack.extend(reversed(node.children))
    text = collapse(sanitize(" ".join(lines))[0]).strip()
    content = [{"type": "paragraph", "content": [{"type": "text", "text": text}]}] if text else []
    return {"type": "doc", "version": 1, "content": content}
