"""Small SVG charts drawn on the server: no chart library, no script, readable without colour.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says the figures
in words, and the caller shows the same figures as a table beside it. Colours come from CSS
classes (``series-<key>``), so light and dark mode restyle them; every value is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import count

from markupsafe import Markup, escape

_ids = count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def stacked_columns(
    title: str,
    columns: Sequence[tuple[str, Mapping[str, int]]],
    keys: Sequence[str],
    *,
    width: int = 720,
    height: int = 180,
) -> Markup:
    """Vertical stacked columns, one per ``(label, {key: value})``, stacking ``keys`` in order."""
    chart_id = _id("chart")
    pad_left, pad_bottom, pad_top = 28, 22, 8
    totals = [sum(int(values.get(k, 0)) for k in keys) for _, values in columns]
    peak = max([*totals, 1])
    plot_h = height - pad_bottom - pad_top
    slot = (width - pad_left) / max(len(columns), 1)
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="none">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(_describe(columns, keys, totals))}</desc>',
        f'<line class="axis" x1="{pad_left}" y1="{height - pad_bottom}" x2="{width}" '
        f'y2="{height - pad_bottom}"/>',
        f'<text class="tick" x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{pad_left - 4}" y="{height - pad_bottom}" '
        'text-anchor="end">0</text>',
    ]
    for position, (label, values) in enumerate(columns):
        x = pad_left + position * slot + (slot - bar_w) / 2
        y: float = height - pad_bottom
        for key in keys:
            value = int(values.get(key, 0))
            if value <= 0:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect class="series-{escape(key)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(label)}: '
                f"{value} {escape(key)}</title></rect>"
            )
        if position % max(len(columns) // 8, 1) == 0:
            parts.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{height - 6}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _describe(
    columns: Sequence[tuple[str, Mapping[str, int]]], keys: Sequence[str], totals: Sequence[int]
) -> str:
    sums = {key: sum(int(values.get(key, 0)) for _, values in columns) for key in keys}
    shown = ", ".join(f"{value} {key}" for key, value in sums.items() if value) or "none"
    return f"{sum(totals)} in {len(columns)} periods: {shown}."


def progress_bar(
    title: str, values: Mapping[str, int], keys: Sequence[str], *, width: int = 360
) -> Markup:
    """One horizontal bar split by ``keys`` (say passing / in progress / open) with a legend in
    its description; an empty bar when everything is zero."""
    chart_id = _id("bar")
    height = 18
    total = sum(int(values.get(k, 0)) for k in keys)
    described = ", ".join(f"{int(values.get(k, 0))} {k}" for k in keys)
    parts = [
        f'<svg class="bar" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="none">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(f"{total} in all: {described}.")}</desc>',
        f'<rect class="track" x="0" y="0" width="{width}" height="{height}" rx="3"/>',
    ]
    x = 0.0
    for key in keys:
        value = int(values.get(key, 0))
        if value <= 0 or total == 0:
            continue
        w = width * value / total
        parts.append(
            f'<rect class="series-{escape(key)}" x="{x:.1f}" y="0" width="{w:.1f}" '
            f'height="{height}"><title>{value} {escape(key)}</title></rect>'
        )
        x += w
    parts.append("</svg>")
    return Markup("".join(parts))
