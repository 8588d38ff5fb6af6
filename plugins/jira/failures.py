"""The seed's error categories: which Jira failures stop an export, and what the user can do.

``admin_required`` (403): the token was revoked or expired, a permission was taken away.
``user_fixable`` (422): the project was deleted, the issue type is gone, a required field we
cannot fill. ``temporary`` (503): Jira unreachable, 5xx or 429 past the retry budget.
"""

from __future__ import annotations

from typing import Any

from app.http import HttpError

STATUS_OF = {"admin_required": 403, "user_fixable": 422, "temporary": 503}


class HardStop(Exception):
    """The export must stop here; the session records where and why."""

    def __init__(self, category: str, message: str, actions: list[str]) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.actions = actions

    @property
    def status(self) -> int:
        """The HTTP status the seed gives this category."""
        return STATUS_OF[self.category]


def _remote(error: HttpError) -> str:
    return error.remote_message or error.message


def _field_errors(error: HttpError) -> dict[str, Any]:
    body = error.body if isinstance(error.body, dict) else {}
    errors = body.get("errors")
    return errors if isinstance(errors, dict) else {}


def from_http(error: HttpError, what: str) -> HardStop:
    """The hard stop for a Jira failure while doing ``what``."""
    if error.category == "auth":
        return HardStop(
            "admin_required",
            f"Jira rejected the credentials while {what} (the API token expired or was revoked).",
            [
                "Create a new API token at id.atlassian.com",
                "Set it with POST /api/jira/config (jira api_token)",
                "Retry the export with POST /api/jira/retry-failed/{session_id}",
            ],
        )
    if error.category == "permission":
        return HardStop(
            "admin_required",
            f"Jira refused permission while {what}: {_remote(error)}",
            [
                "Ask a Jira administrator to grant Browse projects, Create issues, Link issues "
                "and Create attachments",
                "Retry the export",
            ],
        )
    fields = _field_errors(error)
    if error.category == "not_found" or "project" in fields:
        return HardStop(
            "user_fixable",
            f"The Jira project is gone or not visible while {what}: {_remote(error)}",
            [
                "Check the project key with POST /api/jira/validate-project",
                "Change the session's jira_project_key if the project moved",
                "Retry the export",
            ],
        )
    if "issuetype" in fields:
        return HardStop(
            "user_fixable",
            f"The issue type is not available any more while {what}: {fields['issuetype']}",
            ["Change the ticket's issue_type to one the project offers", "Retry the export"],
        )
    if error.category in ("validation", "conflict"):
        return HardStop(
            "user_fixable",
            f"Jira refused the request while {what}: {_remote(error)}",
            ["Fix the ticket named in the message", "Retry the export"],
        )
    return HardStop(
        "temporary",
        f"Jira is unreachable or failing while {what}: {_remote(error)}",
        ["Wait a few minutes", "Retry the export with POST /api/jira/retry-failed/{session_id}"],
    )
