"""Inline marks: which HTML elements and styles give which ADF marks, and ADF's rules on them.

Rules (Atlassian's schema): `code` combines only with `link`; a mark type appears at most
once on a text node (`subsup` is either sub or sup: the innermost wins); codeBlock text and
inline nodes (mention, emoji, hardBreak) carry no marks; no empty `marks` array is emitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from .result import WarningLog
from .tree import Element
from .urls import check_url

STRONG_TAGS = frozenset(("b", "strong"))
EM_TAGS = frozenset(("i", "em", "cite", "dfn", "var", "address"))
UNDERLINE_TAGS = frozenset(("u", "ins"))
STRIKE_TAGS = frozenset(("s", "strike", "del"))
CODE_TAGS = frozenset(("code", "kbd", "samp", "tt"))
HIGHLIGHT_TAGS = frozenset(("mark",))

_NAMED_COLOURS = {
    "black": "#000000",
    "white": "#ffffff",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
    "yellow": "#ffff00",
    "orange": "#ffa500",
    "purple": "#800080",
    "gray": "#808080",
    "grey": "#808080",
}
_HEX6 = re.compile(r"^#([0-9a-fA-F]{6})$")
_HEX3 = re.compile(r"^#([0-9a-fA-F]{3})$")
_RGB = re.compile(r"^rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*(?:,[^)]*)?\)$")


@dataclass(frozen=True)
class Marks:
    """The formatting in effect at a point of the HTML (immutable; derive with `with_element`)."""

    strong: bool = False
    em: bool = False
    underline: bool = False
    strike: bool = False
    subsup: str | None = None
    code: bool = False
    color: str | None = None
    link: str | None = None
    link_title: str | None = None

    def has_formatting(self) -> bool:
        """True when any mark other than `link` is set (what a code context must drop)."""
        return any((self.strong, self.em, self.underline, self.strike, self.subsup, self.color))

    def bold(self) -> Marks:
        """These marks plus strong (for headings flattened to bold paragraphs)."""
        return replace(self, strong=True)

    def to_adf(self, warnings: WarningLog) -> list[dict[str, Any]]:
        """The ADF marks, applying the code rule; an empty list means "leave `marks` out"."""
        marks: list[dict[str, Any]] = []
        if self.link:
            attrs = {"href": self.link}
            if self.link_title:
                attrs["title"] = self.link_title
            marks.append({"type": "link", "attrs": attrs})
        if self.code:
            if self.has_formatting():
                warnings.add(
                    "code_formatting_dropped",
                    "formatting inside inline code was dropped (ADF's code mark combines only "
                    "with links)",
                )
            marks.append({"type": "code"})
            return marks
        if self.em:
            marks.append({"type": "em"})
        if self.strong:
            marks.append({"type": "strong"})
        if self.strike:
            marks.append({"type": "strike"})
        if self.subsup:
            marks.append({"type": "subsup", "attrs": {"type": self.subsup}})
        if self.underline:
            marks.append({"type": "underline"})
        if self.color:
            marks.append({"type": "textColor", "attrs": {"color": self.color}})
        return marks

    def with_element(self, element: Element, warnings: WarningLog, base_url: str | None) -> Marks:
        """The marks inside `element` (an inline element or a block carrying formatting)."""
        tag = element.tag
        changes: dict[str, Any] = {}
        if tag in STRONG_TAGS:
            changes["strong"] = True
        elif tag in EM_TAGS:
            changes["em"] = True
        elif tag in UNDERLINE_TAGS:
            changes["underline"] = True
        elif tag in STRIKE_TAGS:
            changes["strike"] = True
        elif tag in ("sub", "sup"):
            changes["subsup"] = tag
        elif tag in CODE_TAGS:
            changes["code"] = True
        elif tag in HIGHLIGHT_TAGS:
            warnings.add("highlight_dropped", "a highlight (<mark>) was dropped, its text kept")
        elif tag == "font" and element.attrs.get("color"):
            changes.update(_colour_change(element.attrs["color"], warnings))
        elif tag == "a" and "href" in element.attrs:
            changes.update(_link_change(element, warnings, base_url))
        style = element.attrs.get("style")
        if style:
            changes.update(_style_changes(style, warnings))
        return replace(self, **changes) if changes else self


def _link_change(element: Element, warnings: WarningLog, base_url: str | None) -> dict[str, Any]:
    href = element.attrs["href"]
    verdict = check_url(href, base_url)
    if verdict.url is None:
        shown = href.strip()[:80]
        if verdict.problem == "unsafe":
            warnings.add("link_unsafe_dropped", f"unsafe link {shown!r} dropped, its text kept")
        elif verdict.problem == "relative":
            warnings.add(
                "link_relative_dropped",
                f"relative link {shown!r} dropped (no base URL to resolve it), its text kept",
            )
        else:
            warnings.add("link_invalid_dropped", f"invalid link {shown!r} dropped, its text kept")
        return {"link": None, "link_title": None}
    if verdict.changed:
        warnings.add("link_changed", f"link {href.strip()[:80]!r} rewritten as {verdict.url!r}")
    title = " ".join(element.attrs.get("title", "").split())
    return {"link": verdict.url, "link_title": title or None}


def _style_changes(style: str, warnings: WarningLog) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip().lower().replace("!important", "")
        value = value.strip()
        if name == "font-weight" and (
            value in ("bold", "bolder") or value in ("600", "700", "800", "900")
        ):
            changes["strong"] = True
        elif name == "font-style" and value in ("italic", "oblique"):
            changes["em"] = True
        elif name in ("text-decoration", "text-decoration-line"):
            if "underline" in value:
                changes["underline"] = True
            if "line-through" in value:
                changes["strike"] = True
        elif name == "vertical-align" and value in ("sub", "super"):
            changes["subsup"] = "sub" if value == "sub" else "sup"
        elif name == "color":
            changes.update(_colour_change(value, warnings))
        elif name in ("background", "background-color") and value not in (
            "",
            "transparent",
            "none",
            "inherit",
            "initial",
            "#fff",
            "#ffffff",
            "white",
        ):
            warnings.add("highlight_dropped", "a background colour was dropped, its text kept")
    return changes


def _colour_change(value: str, warnings: WarningLog) -> dict[str, Any]:
    colour = parse_colour(value)
    if colour is None:
        warnings.add(
            "colour_dropped", f"text colour {value.strip()[:40]!r} not understood, dropped"
        )
        return {}
    # Black is the default text colour: a mark for it would only add noise.
    return {"color": None if colour == "#000000" else colour}


def parse_colour(value: str) -> str | None:
    """A CSS colour as ADF's `#rrggbb` (lower case), or None when not understood."""
    value = value.strip().lower()
    if value in _NAMED_COLOURS:
        return _NAMED_COLOURS[value]
    if _HEX6.match(value):
        return value
    if m := _HEX3.match(value):
        return "#" + "".join(c * 2 for c in m.group(1))
    if m := _RGB.match(value):
        channels = [min(int(c), 255) for c in m.groups()]
        return "#" + "".join(f"{c:02x}" for c in channels)
    return None
