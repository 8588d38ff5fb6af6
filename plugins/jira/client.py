"""The Jira Cloud REST client (platform v3 + Agile 1.0), on the core's :class:`ServiceClient`.

Basic auth with e-mail + API token; every call goes through ``app.http`` (timeouts, Atlassian's
retry guidance for 429: ``Retry-After`` honoured with jitter, at most 4 retries, a shared pause
for every worker using the same token). Only calls that are safe to repeat are repeated: a
create whose answer is lost is the exporter's business (it looks the issue up first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from app.http import HttpNotFound, ServiceClient
from plugins.jira.config import JiraConfig

SERVICE = "jira"
PROPERTY_KEY = "com.junction.export"
MAX_RETRIES = 4  # Atlassian's guidance (jira-api.md 1.12)


def build_http(config: JiraConfig, **overrides: Any) -> ServiceClient:
    """The :class:`ServiceClient` for ``config``; ``overrides`` replace any keyword (tests)."""
    options: dict[str, Any] = {
        "auth": (config.email, config.api_token),
        "timeout": (5.0, 30.0),
        "max_retries": MAX_RETRIES,
        "max_elapsed": 120.0,
        "backoff_max": 30.0,
        **overrides,
    }
    return ServiceClient(SERVICE, config.site_url, **options)


class JiraClient:
    """The calls the plugin makes, each named after Jira's operation."""

    def __init__(self, config: JiraConfig, http: ServiceClient | None = None) -> None:
        self.config = config
        self.http = http or build_http(config)
        self.last_headers: dict[str, str] = {}
        self.calls = 0

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.calls += 1
        response = self.http.request(method, path, **kwargs)
        self.last_headers = dict(response.headers)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        return response.json() if response.content else None

    def browse_url(self, key: str) -> str:
        """The issue's page on the site."""
        return f"{self.config.site_url.rstrip('/')}/browse/{key}"

    # -- site and project ---------------------------------------------------------------------
    def myself(self) -> dict[str, Any]:
        """``GET /rest/api/3/myself``: the account the token belongs to."""
        body: dict[str, Any] = self._json("GET", "/rest/api/3/myself")
        return body

    def project(self, key: str) -> dict[str, Any]:
        """``GET /rest/api/3/project/{key}`` (404: missing or not browsable)."""
        body: dict[str, Any] = self._json("GET", f"/rest/api/3/project/{key}")
        return body

    def my_permissions(self, key: str, permissions: list[str]) -> dict[str, bool]:
        """``GET /rest/api/3/mypermissions``: ``{permission: havePermission}``."""
        body = self._json(
            "GET",
            "/rest/api/3/mypermissions",
            params={"projectKey": key, "permissions": ",".join(permissions)},
        )
        found = (body or {}).get("permissions") or {}
        return {name: bool((found.get(name) or {}).get("havePermission")) for name in permissions}

    def _paged(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        start = 0
        while True:
            body = self._json(
                "GET", path, params={**(params or {}), "startAt": start, "maxResults": 50}
            )
            items = body.get(key) or []
            yield from items
            start += len(items)
            total = body.get("total")
            if not items or body.get("isLast") is True or (total is not None and start >= total):
                return

    def issue_types(self, key: str) -> list[dict[str, Any]]:
        """Issue types a create may use (paged createmeta)."""
        path = f"/rest/api/3/issue/createmeta/{key}/issuetypes"
        body = self._json("GET", path, params={"startAt": 0, "maxResults": 200})
        found = body.get("issueTypes") or body.get("createMetaIssueType") or []
        return list(found)

    def create_fields(self, key: str, issue_type_id: str) -> list[dict[str, Any]]:
        """The create screen of one issue type (paged createmeta)."""
        path = f"/rest/api/3/issue/createmeta/{key}/issuetypes/{issue_type_id}"
        start, fields = 0, list[dict[str, Any]]()
        while True:
            body = self._json("GET", path, params={"startAt": start, "maxResults": 50})
            page = body.get("fields") or body.get("results") or []
            fields.extend(page)
            start += len(page)
            if not page or start >= int(body.get("total") or 0):
                return fields

    def assignable(
        self, key: str, *, account_id: str | None = None, query: str | None = None
    ) -> list[dict[str, Any]]:
        """``GET /rest/api/3/user/assignable/search`` by exact account id or a query."""
        params: dict[str, Any] = {"project": key, "maxResults": 50}
        if account_id:
            params["accountId"] = account_id
        else:
            params["query"] = query or ""
        return list(self._json("GET", "/rest/api/3/user/assignable/search", params=params) or [])

    def link_types(self) -> list[dict[str, Any]]:
        """``GET /rest/api/3/issueLinkType`` (none when the site disabled linking: 404)."""
        try:
            body = self._json("GET", "/rest/api/3/issueLinkType") or {}
        except HttpNotFound:
            return []
        return list(body.get("issueLinkTypes") or [])

    def scrum_boards(self, key: str) -> list[dict[str, Any]]:
        """Scrum boards of the project (kanban boards have no sprints)."""
        return list(
            self._paged("/rest/agile/1.0/board", "values", {"projectKeyOrId": key, "type": "scrum"})
        )

    def sprints(self, board_id: int) -> list[dict[str, Any]]:
        """Active and future sprints of a board."""
        return list(
            self._paged(
                f"/rest/agile/1.0/board/{board_id}/sprint", "values", {"state": "active,future"}
            )
        )

    # -- issues ---------------------------------------------------------------------------------
    def create_issue(
        self, fields: dict[str, Any], properties: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """``POST /rest/api/3/issue`` (never repeated after sending: the caller decides)."""
        body = {"fields": fields, "properties": properties}
        created: dict[str, Any] = self._json(
            "POST", "/rest/api/3/issue", json=body, idempotent=False
        )
        return created

    def find_by_label(self, project_key: str, label: str) -> list[dict[str, Any]]:
        """Issues carrying ``label``, with their export property (``search/jql``)."""
        body = {
            "jql": f'project = "{project_key}" AND labels = "{label}" ORDER BY created ASC',
            "fields": ["summary", "labels", "created"],
            "properties": [PROPERTY_KEY],
            "maxResults": 50,
        }
        # A search changes nothing: repeating it is safe.
        found = self._json("POST", "/rest/api/3/search/jql", json=body, idempotent=True)
        return list((found or {}).get("issues") or [])

    def attachments(self, key: str) -> list[dict[str, Any]]:
        """The issue's attachments (``fields=attachment``)."""
        issue = self._json("GET", f"/rest/api/3/issue/{key}", params={"fields": "attachment"})
        return list(((issue or {}).get("fields") or {}).get("attachment") or [])

    def add_attachment(self, key: str, filename: str, content: bytes, mime: str) -> Any:
        """Upload one file (multipart part ``file``, XSRF header as Jira requires)."""
        return self._json(
            "POST",
            f"/rest/api/3/issue/{key}/attachments",
            files={"file": (filename, content, mime)},
            headers={"X-Atlassian-Token": "no-check"},
            idempotent=False,
        )

    def link_blocks(self, link_type: dict[str, Any], blocker: str, blocked: str) -> None:
        """``blocker`` blocks ``blocked``: for a POST the blocker is the ``inwardIssue``
        (jira-api.md 1.4). Jira answers a duplicate as created, so a replay is safe."""
        body = {
            "type": {"name": link_type["name"]},
            "inwardIssue": {"key": blocker},
            "outwardIssue": {"key": blocked},
        }
        self._call("POST", "/rest/api/3/issueLink", json=body, idempotent=True)


def blocks_type(link_types: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``Blocks`` link type: by name (any case), else the one whose outward is "blocks"."""
    for link_type in link_types:
        if str(link_type.get("name", "")).lower() == "blocks":
            return link_type
    for link_type in link_types:
        if str(link_type.get("outward", "")).lower() == "blocks":
            return link_type
    return None
