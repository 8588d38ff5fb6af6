"""Finding an issue whose create answer was lost, before anything is created again.

``search/jql`` is eventually consistent (jira-api.md 1.11): a just-created issue may not show
for a while. So the label is searched several times with growing pauses, bounded by
:data:`DELAYS`; each hit is verified by the issue property that holds the ticket id (labels are
user-editable). An issue carrying the label whose property names another ticket, or a second
issue for the same ticket, cannot be decided automatically: it is reported as an orphan with its
key for manual clean-up, never adopted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from plugins.jira.client import PROPERTY_KEY, JiraClient

# Pauses between searches: about 7.5 s in all, the search index's usual lag and then some.
DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)


def _ticket_of(issue: dict[str, Any]) -> str | None:
    props = issue.get("properties") or {}
    value = props.get(PROPERTY_KEY) if isinstance(props, dict) else None
    return str(value.get("ticket_id")) if isinstance(value, dict) else None


def find_created(
    client: JiraClient,
    project_key: str,
    label: str,
    ticket_id: str,
    sleep: Callable[[float], None],
    delays: Sequence[float] = DELAYS,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``(the issue to adopt or None, orphans)`` after polling the search within ``delays``."""
    for attempt in range(len(delays) + 1):
        issues = client.find_by_label(project_key, label)
        ours = [i for i in issues if _ticket_of(i) == ticket_id]
        orphans = [
            {"jira_key": i["key"], "reason": "carries the ticket's label but not its property"}
            for i in issues
            if _ticket_of(i) != ticket_id
        ]
        if ours:
            orphans += [
                {
                    "jira_key": i["key"],
                    "reason": f"a second issue for the ticket ({ours[0]['key']})",
                }
                for i in ours[1:]
            ]
            return ours[0], orphans
        if attempt < len(delays):
            sleep(delays[attempt])
    return None, orphans
