"""A tiny Markdown renderer that cannot inject markup: it escapes first, then adds a few tags.

Every line is HTML-escaped before any rule runs, so ``<script>`` in a note stays text; the rules
only add their own tags around already-escaped text. Supported: ATX headings, ``-``/``*`` and
numbered lists, fenced code blocks, paragraphs, and inline ``code``, ``**strong**``, ``*em*``
and ``[text](url)`` links whose URL is ``http(s)://``, ``mailto:``, a path or a fragment
(anything else, ``javascript:`` included, is left as text). Enough for release notes and
changelogs; not a CommonMark implementation.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,9}[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EM = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_SAFE_URL = re.compile(r"^(?:https?://|mailto:|/(?!/)|#)", re.IGNORECASE)


def _inline(escaped: str) -> str:
    """Inline rules on escaped text; code spans are protected from the other rules."""
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE.sub(keep, escaped)
    text = _LINK.sub(_link, text)
    text = _STRONG.sub(r"<strong>\1</strong>", text)
    text = _EM.sub(r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    # The URL is escaped text already (quotes are entities): it cannot leave the attribute.
    if not _SAFE_URL.match(url.replace("&amp;", "&")):
        return match.group(0)
    return f'<a href="{url}" rel="nofollow noopener">{label}</a>'


def render(source: str | None) -> Markup:
    """``source`` Markdown as safe HTML."""
    lines = str(source or "").replace("\r\n", "\n").replace("\x00", "").split("\n")
    out: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None
    code: list[str] | None = None

    def close_paragraph() -> None:
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_tag
        if list_tag:
            out.append(f"</{list_tag}>")
            list_tag = None

    for raw in lines:
        if code is not None:
            if _FENCE.match(raw):
                out.append(f"<pre><code>{chr(10).join(code)}</code></pre>")
                code = None
            else:
                code.append(str(escape(raw)))
            continue
        if _FENCE.match(raw):
            close_paragraph()
            close_list()
            code = []
            continue
        line = str(escape(raw))
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        numbered = None if bullet else _NUMBERED.match(line)
        if not line.strip():
            close_paragraph()
            close_list()
        elif heading:
            close_paragraph()
            close_list()
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet or numbered:
            close_paragraph()
            tag = "ul" if bullet else "ol"
            if list_tag != tag:
                close_list()
                out.append(f"<{tag}>")
                list_tag = tag
            match = bullet or numbered
            assert match is not None  # the elif tested it
            item = match.group(1)
            out.append(f"<li>{_inline(item)}</li>")
        else:
            close_list()
            paragraph.append(line.strip())
    if code is not None:
        out.append(f"<pre><code>{chr(10).join(code)}</code></pre>")
    close_paragraph()
    close_list()
    return Markup("\n".join(out))
