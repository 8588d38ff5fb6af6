"""Which HTML elements the converter treats how (tag sets shared by its modules)."""

from __future__ import annotations

# Dropped with their content. NOT_RENDERED ones are invisible in a browser too, so their text
# does not count as lost in `character_reduction`.
NOT_RENDERED = frozenset(
    ["script", "style", "template", "head", "title", "meta", "link", "base", "noscript"]
)
DROPPED = NOT_RENDERED | frozenset(
    [
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "svg",
        "math",
        "canvas",
        "video",
        "audio",
        "select",
        "textarea",
        "datalist",
        "map",
    ]
)
FORM_CONTROLS = frozenset(("select", "textarea", "datalist"))
# Generic block containers: a block boundary before and after, no node of their own.
BLOCK_CONTAINERS = frozenset(
    [
        "div",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "nav",
        "aside",
        "figure",
        "figcaption",
        "address",
        "hgroup",
        "center",
        "form",
        "fieldset",
        "legend",
        "details",
        "summary",
        "dialog",
        "dl",
        "dd",
        "dt",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "td",
        "th",
        "colgroup",
        "col",
    ]
)
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
LISTS = frozenset(("ul", "ol", "menu", "dir"))
PANEL_TYPES = frozenset(("info", "note", "tip", "warning", "error", "success"))
