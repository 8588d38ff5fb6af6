"""Map Plane objects to Junction's shared domain: work items to features, cycle status."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from typing import Any

PRIORITY_TO_INT = {"urgent": 1, "high": 2, "medium": 3, "low": 4, "none": 5}
DEFAULT_CATEGORY = "functional"

_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(?:p|div|li|h[1-6]|tr)>|<br\s*/?>", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+(?:\[[ xX]\]\s+)?(?P<text>\S.*)$")
_AC_HEADER = re.compile(r"^(?:acceptance\s+criteria|ac|definition\s+of\s+done|dod)\s*:?", re.I)
_GWT = re.compile(r"^(?:given|when|then|and|but)\s+", re.I)


def parse_datetime(value: str | None) -> dt.datetime | None:
    """Plane's ISO-8601 timestamps (``...Z``) or dates as aware UTC datetimes."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def cycle_status(cycle: Mapping[str, Any], now: dt.datetime) -> str:
    """``current``, ``upcoming``, ``completed`` or ``draft`` from the dates, as Plane's web UI
    computes it (the v1 API has no status field)."""
    start, end = parse_datetime(cycle.get("start_date")), parse_datetime(cycle.get("end_date"))
    if start is None or end is None:
        return "draft"
    if end < now:
        return "completed"
    if start > now:
        return "upcoming"
    return "current"


def html_to_text(value: str | None) -> str:
    """Plain text from a Plane ``description_html``, one line per block element."""
    if not value:
        return ""
    text = _BLOCK_END.sub("\n", value)
    text = html.unescape(_TAG.sub("", text))
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def acceptance_criteria(text: str) -> list[str]:
    """Criteria from an "Acceptance Criteria"/"AC:"/"Definition of Done" section, checkboxes
    or Given/When/Then lines."""
    criteria: list[str] = []
    in_section = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        header = _AC_HEADER.match(line.lstrip("#").strip())
        if header and (line.startswith("#") or line.lower().startswith(("ac", "accept", "def"))):
            in_section = True
            rest = line.lstrip("#").strip()[header.end() :].strip()
            if rest:
                criteria.append(rest)
            continue
        if in_section and line.startswith("#"):
            in_section = False
            continue
        item = _LIST_ITEM.match(line)
        if in_section:
            criteria.append(item["text"] if item else line)
        elif "[ ]" in line[:6] or "[x]" in line[:6].lower():
            if item:
                criteria.append(item["text"])
        elif _GWT.match(line):
            criteria.append(line)
    return criteria


def steps_from(text: str) -> list[str]:
    """Numbered or bulleted lines of a description, or the whole description as one step."""
    steps = [m["text"] for m in map(_LIST_ITEM.match, text.splitlines()) if m]
    return steps or ([text] if text else [])


def state_group(item: Mapping[str, Any], states: Mapping[str, Mapping[str, Any]]) -> str:
    """The state group of a work item: from ``?expand=state`` or the cached states."""
    state = item.get("state")
    if isinstance(state, Mapping):
        return str(state.get("group") or "unstarted")
    if isinstance(state, str) and state in states:
        return str(states[state].get("group") or "unstarted")
    return "unstarted"


def category_of(item: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The first label's name (expanded or from the label cache), else ``functional``."""
    for label in item.get("labels") or []:
        if isinstance(label, Mapping) and label.get("name"):
            return str(label["name"])[:100]
        if isinstance(label, str) and label in labels:
            return labels[label][:100]
    return DEFAULT_CATEGORY


def feature_fields(
    item: Mapping[str, Any],
    states: Mapping[str, Mapping[str, Any]],
    labels: Mapping[str, str],
    feature_ids: Mapping[str, int],
) -> dict[str, Any]:
    """The Feature columns for a Plane work item.

    ``feature_ids`` maps already-imported work item ids to feature ids, so a sub-item depends on
    the feature of its parent (the parent must be understood before its parts).
    """
    description = html_to_text(item.get("description_html")) or str(item.get("name", ""))
    group = state_group(item, states)
    parent = item.get("parent")
    parent_id = parent.get("id") if isinstance(parent, Mapping) else parent
    criteria = acceptance_criteria(description)
    return {
        "name": str(item.get("name", ""))[:255] or "(untitled)",
        "description": description,
        "priority": PRIORITY_TO_INT.get(str(item.get("priority") or "none"), 5),
        "category": category_of(item, labels),
        "steps": criteria or steps_from(description) or [str(item.get("name", ""))],
        "acceptance_criteria": criteria,
        "passes": group == "completed",
        "in_progress": group == "started",
        "dependencies": (
            [feature_ids[parent_id]]
            if isinstance(parent_id, str) and parent_id in feature_ids
            else []
        ),
        "planning_work_item_id": str(item["id"]),
        "planning_updated_at": parse_datetime(item.get("updated_at")),
    }
