"""A faithful fake of Plane's public API (v1), served by a real local HTTP server.

It behaves as ``shared/reference/plane-api.md`` documents Plane CE 1.3.1: the pagination
envelope and ``per_page:page:is_prev`` cursors, 401 without a key and 403 for a wrong one,
DRF-shaped 400/404 bodies, 409 with the existing id on a repeated ``external_id``, the
``CYCLE_COMPLETED`` refusal, read-only ended cycles, ``X-RateLimit-*`` headers and a sliding
60/minute window per key answered with 429 and ``Retry-After`` (window and limit configurable,
small in tests, on an injectable clock), ``/api/instances/`` with the version, and signed webhook
deliveries in the v1 and v2 formats. Every call is recorded so tests and benchmarks can count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.fakes.httpserver import make_server

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PRIORITIES = ("urgent", "high", "medium", "low", "none")
DEFAULT_STATES = (
    ("Backlog", "backlog", True),
    ("Todo", "unstarted", False),
    ("In Progress", "started", False),
    ("Done", "completed", False),
    ("Cancelled", "cancelled", False),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class PlaneError(Exception):
    """An error response of the fake: status and Plane's own body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


NOT_FOUND = {"error": "The requested resource does not exist."}
_CREATE_PATH = re.compile(r"/(?:issues|work-items|modules)/$")


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    at: float


@dataclass
class FakePlaneState:
    """The fake's data: projects, states, cycles, work items, modules, comments."""

    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    cycles: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    cycle_issues: dict[str, list[str]] = field(default_factory=dict)  # cycle id -> issue ids
    module_issues: dict[str, list[str]] = field(default_factory=dict)


class FakePlane:
    """A Plane API server on 127.0.0.1 with a random port.

    ``rate_limit`` requests per ``window`` seconds per API key (Plane: 60/60 s); ``clock``
    drives the window so tests need no waiting. ``latency`` delays every answer (a slow Plane);
    ``down`` makes every request fail with a dropped connection (Plane unreachable).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        workspace: str = "mq-it",
        rate_limit: int = 60,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        version: str | None = "1.3.1",
        max_per_page: int = 1000,
    ) -> None:
        self.api_key = api_key or "plane_api_" + uuid.uuid4().hex
        self.workspace = workspace
        self.rate_limit, self.window, self.clock = rate_limit, window, clock
        self.version = version
        self.max_per_page = max_per_page
        self.latency = 0.0
        self.down = False
        # hold_after_creates = k: the k-th successful create (work item or module) is processed
        # but its answer is held until ``release`` is set -- the window in which a client dies
        # after the side effect and before it learns the id (tests kill a process there).
        self.hold_after_creates: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.creates = 0
        self.fail_next: deque[tuple[int, dict[str, Any]]] = deque()
        self.state = FakePlaneState()
        self.calls: list[Call] = []
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.user_id = str(uuid.uuid4())
        self.workspace_id = str(uuid.uuid4())

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, port: int = 0, host: str = "127.0.0.1") -> FakePlane:
        """Serve on ``host:port`` (default: a free loopback port)."""
        self._server = make_server(self._handle, ("GET", "POST", "PATCH", "DELETE"), host, port)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding ----------------------------------------------------------------------------
    def add_project(self, name: str = "MQ DevEngine Project", identifier: str = "MQI") -> str:
        """Create a project with Plane's default states; returns its id."""
        with self._lock:
            pid = str(uuid.uuid4())
            now = _now()
            self.state.projects[pid] = {
                "id": pid,
                "name": name,
                "identifier": identifier,
                "description": "",
                "cycle_view": True,
                "module_view": True,
                "created_at": _iso(now),
                "updated_at": _iso(now),
                "workspace": self.workspace_id,
                "_seq": 0,
            }
            for index, (state_name, group, default) in enumerate(DEFAULT_STATES):
                sid = str(uuid.uuid4())
                self.state.states[sid] = {
                    "id": sid,
                    "name": state_name,
                    "group": group,
                    "default": default,
                    "color": "#000000",
                    "sequence": (index + 1) * 15000,
                    "project": pid,
                    "workspace": self.workspace_id,
                }
            return pid

    def state_id(self, project_id: str, group: str) -> str:
        """The id of the project's first state of ``group``."""
        for state in self.state.states.values():
            if state["project"] == project_id and state["group"] == group:
                return state["id"]
        raise KeyError(group)

    def add_cycle(
        self,
        project_id: str,
        name: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
        description: str = "",
    ) -> str:
        """Create a cycle; returns its id."""
        with self._lock:
            cid = str(uuid.uuid4())
            now = _now()
            self.state.cycles[cid] = {
                "id": cid,
                "name": name,
                "description": description,
                "start_date": _iso(start),
                "end_date": _iso(end),
                "project": project_id,
                "workspace": self.workspace_id,
                "external_source": None,
                "external_id": None,
                "created_at": _iso(now),
                "updated_at": _iso(now),
                "archived_at": None,
                "owned_by": self.user_id,
            }
            self.state.cycle_issues[cid] = []
            return cid

    def add_issue(self, project_id: str, name: str, **fields_: Any) -> str:
        """Create a work item directly (no rate limit, no call recorded); returns its id."""
        with self._lock:
            issue = self._new_issue(project_id, {"name": name, **fields_})
            return issue["id"]

    def add_label(self, project_id: str, name: str) -> str:
        """Create a label; returns its id."""
        with self._lock:
            lid = str(uuid.uuid4())
            self.state.labels[lid] = {"id": lid, "name": name, "project": project_id}
            return lid

    def add_module(self, project_id: str, name: str, **fields_: Any) -> str:
        """Create a module directly (as a user in Plane's UI would); returns its id."""
        with self._lock:
            return self._new_module(project_id, {"name": name, **fields_})["id"]

    def add_to_cycle(self, cycle_id: str, *issue_ids: str) -> None:
        """Put work items in a cycle (moving them out of any other cycle), without a call."""
        with self._lock:
            self._move_to_cycle(cycle_id, list(issue_ids))

    def touch_issue(self, issue_id: str, **changes: Any) -> dict[str, Any]:
        """Change a work item as a Plane user would, bumping ``updated_at``."""
        with self._lock:
            issue = self.state.issues[issue_id]
            issue.update(changes)
            issue["updated_at"] = _iso(_now())
            return dict(issue)

    def exhaust_rate_limit(self) -> None:
        """Use up the key's window now, as other clients of the same key would."""
        with self._lock:
            hits = self._hits.setdefault(self.api_key, deque())
            while len(hits) < self.rate_limit:
                hits.append(self.clock())

    def objects_by_external_id(self) -> dict[str, int]:
        """How many work items and modules carry each ``external_id`` (duplicates show > 1)."""
        counts: dict[str, int] = {}
        with self._lock:
            for obj in [*self.state.issues.values(), *self.state.modules.values()]:
                if obj.get("external_id"):
                    counts[obj["external_id"]] = counts.get(obj["external_id"], 0) + 1
        return counts

    def calls_to(self, method: str | None = None, pattern: str = "") -> list[Call]:
        """Recorded calls, optionally filtered by method and a path regex."""
        regex = re.compile(pattern) if pattern else None
        return [
            c
            for c in self.calls
            if (method is None or c.method == method) and (regex is None or regex.search(c.path))
        ]

    # -- webhooks ---------------------------------------------------------------------------
    @staticmethod
    def sign(body: bytes, secret: str) -> str:
        """Plane's signature: lowercase hex HMAC-SHA256 of the raw body, no prefix."""
        return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def webhook_payload(
        self, event: str, action: str, data: dict[str, Any], version: str = "v1"
    ) -> dict[str, Any]:
        """A webhook payload as Plane CE (v1) or the hosted edition (v2) builds it."""
        if version == "v2":
            entity = {"issue": "workitem"}.get(event, event)
            verb = {"create": "created", "update": "updated", "delete": "deleted"}.get(
                action, action
            )
            return {
                "version": "v2",
                "delivery_id": str(uuid.uuid4()),
                "event_id": str(uuid.uuid4()),
                "entity_id": data.get("id"),
                "entity_type": entity,
                "event": f"{entity}.{verb}",
                "webhook_id": str(uuid.uuid4()),
                "workspace_id": self.workspace_id,
                "data": data,
                "previous_attributes": {},
            }
        return {
            "event": event,
            "action": action,
            "webhook_id": str(uuid.uuid4()),
            "workspace_id": self.workspace_id,
            "data": data,
            "activity": {"field": None, "new_value": None, "old_value": None, "actor": None},
        }

    def deliver_webhook(
        self,
        url: str,
        payload: dict[str, Any],
        secret: str | None,
        header: str = "X-Plane-Signature",
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST ``payload`` to ``url`` as Plane does (``json.dumps`` defaults, signed)."""
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Autopilot",
            "X-Plane-Delivery": str(uuid.uuid4()),
            "X-Plane-Event": str(payload.get("event", "")),
        }
        if secret is not None:
            headers[header] = self.sign(body, secret)
        return requests.post(url, data=body, headers=headers, timeout=timeout)

    # -- request handling -------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if self.down:
            # Plane unreachable: the connection closes without an answer.
            handler.close_connection = True
            handler.connection.close()
            return
        if self.latency:
            time.sleep(self.latency)  # a slow server is the behaviour under test here
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        status, body = 500, {"error": "Something went wrong please try again later"}
        try:
            status, body, headers = self._route(method, parts.path, query, raw, handler.headers)
        except PlaneError as err:
            status, body, headers = err.status, err.body, err.headers
        hold = False
        with self._lock:
            self.calls.append(Call(method, parts.path, query, status, self.clock()))
            if method == "POST" and status == 201 and _CREATE_PATH.search(parts.path):
                self.creates += 1
                hold = self.hold_after_creates == self.creates
        if hold:
            self.holding.set()
            self.release.wait(60)
        data = b"" if body is None else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (read timeout) or died: Plane's work is done all the same.
            handler.close_connection = True

    def _authenticate(self, headers: Any) -> None:
        key = headers.get("X-API-Key")
        if not key:
            raise PlaneError(401, {"detail": "Authentication credentials were not provided."})
        if not hmac.compare_digest(key, self.api_key):
            raise PlaneError(403, {"detail": "Given API token is not valid"})

    def _throttle(self) -> dict[str, str]:
        with self._lock:
            now = self.clock()
            hits = self._hits.setdefault(self.api_key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                retry = max(1, int(hits[0] + self.window - now + 0.999))
                raise PlaneError(
                    429,
                    {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"},
                    {"Retry-After": str(retry)},
                )
            hits.append(now)
            return {
                "X-RateLimit-Remaining": str(self.rate_limit - len(hits)),
                "X-RateLimit-Reset": str(int(time.time() + self.window)),
            }

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, headers: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if path == "/api/instances/" and method == "GET":
            if self.version is None:
                raise PlaneError(404, {"error": "Page not found."})
            return (
                200,
                {"instance": {"current_version": self.version, "edition": "PLANE_COMMUNITY"}},
                {},
            )
        if not path.startswith("/api/v1/"):
            raise PlaneError(404, {"error": "Page not found."})
        self._authenticate(headers)
        rate_headers = self._throttle()
        if self.fail_next:
            status, error = self.fail_next.popleft()
            raise PlaneError(status, error)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise PlaneError(400, {"detail": f"JSON parse error - {exc}"}) from exc
        with self._lock:
            status, result = self._dispatch(method, path, query, body or {})
        return status, result, rate_headers

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any]:
        if path == "/api/v1/users/me/":
            return 200, {"id": self.user_id, "display_name": "tester", "email": "t@example.com"}
        prefix = rf"^/api/v1/workspaces/(?P<slug>[^/]+)/projects/(?P<pid>{UUID_RE})"
        match = re.match(prefix + r"(?P<rest>/.*)$", path)
        if not match:
            raise PlaneError(404, {"error": "Page not found."})
        if match["slug"] != self.workspace or match["pid"] not in self.state.projects:
            raise PlaneError(403, {"detail": "You do not have permission to perform this action."})
        pid, rest = match["pid"], match["rest"]
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"^/$", self._get_project),
            ("GET", r"^/states/$", self._list_states),
            ("GET", r"^/labels/$", self._list_labels),
            ("GET", r"^/cycles/$", self._list_cycles),
            ("GET", rf"^/cycles/(?P<cid>{UUID_RE})/$", self._get_cycle),
            ("PATCH", rf"^/cycles/(?P<cid>{UUID_RE})/$", self._patch_cycle),
            ("GET", rf"^/cycles/(?P<cid>{UUID_RE})/cycle-issues/$", self._list_cycle_issues),
            ("POST", rf"^/cycles/(?P<cid>{UUID_RE})/cycle-issues/$", self._add_cycle_issues),
            ("GET", r"^/(?:issues|work-items)/$", self._list_issues),
            ("POST", r"^/(?:issues|work-items)/$", self._create_issue),
            ("GET", rf"^/(?:issues|work-items)/(?P<iid>{UUID_RE})/$", self._get_issue),
            ("PATCH", rf"^/(?:issues|work-items)/(?P<iid>{UUID_RE})/$", self._patch_issue),
            (
                "POST",
                rf"^/(?:issues|work-items)/(?P<iid>{UUID_RE})/comments/$",
                self._create_comment,
            ),
            (
                "GET",
                rf"^/(?:issues|work-items)/(?P<iid>{UUID_RE})/comments/$",
                self._list_comments,
            ),
            ("GET", r"^/modules/$", self._list_modules),
            ("POST", r"^/modules/$", self._create_module),
            ("GET", rf"^/modules/(?P<mid>{UUID_RE})/$", self._get_module),
            ("POST", rf"^/modules/(?P<mid>{UUID_RE})/module-issues/$", self._add_module_issues),
            ("GET", rf"^/modules/(?P<mid>{UUID_RE})/module-issues/$", self._list_module_issues),
        ]
        allowed = False
        for verb, pattern, view in routes:
            found = re.match(pattern, rest)
            if found:
                allowed = True
                if verb == method:
                    return view(pid, query, body, **found.groupdict())
        if allowed:
            raise PlaneError(405, {"detail": f'Method "{method}" not allowed.'})
        raise PlaneError(404, {"error": "Page not found."})

    # -- pagination -------------------------------------------------------------------------
    def _paginate(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            per_page = int(query.get("per_page", ["1000"])[0])
        except ValueError as exc:
            raise PlaneError(400, {"detail": "Invalid per_page parameter."}) from exc
        if per_page > self.max_per_page:
            raise PlaneError(
                400, {"detail": f"Invalid per_page value. Cannot exceed {self.max_per_page}."}
            )
        page = 0
        if "cursor" in query:
            parts = query["cursor"][0].split(":")
            if len(parts) != 3:
                raise PlaneError(400, {"detail": "Invalid cursor parameter."})
            try:
                per_page, page = int(parts[0]), int(parts[1])
            except ValueError as exc:
                raise PlaneError(400, {"detail": "Invalid cursor parameter."}) from exc
        start = page * per_page
        results = items[start : start + per_page]
        total = len(items)
        has_next = start + per_page < total
        return {
            "grouped_by": None,
            "sub_grouped_by": None,
            "total_count": total,
            "next_cursor": f"{per_page}:{page + 1}:0",
            "prev_cursor": f"{per_page}:{page - 1}:1",
            "next_page_results": has_next,
            "prev_page_results": page > 0,
            "count": len(results),
            "total_pages": max(1, -(-total // per_page)),
            "total_results": total,
            "extra_stats": None,
            "results": results,
        }

    # -- views ------------------------------------------------------------------------------
    def _get_project(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        return 200, self._public(self.state.projects[pid])

    def _list_states(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        states = [s for s in self.state.states.values() if s["project"] == pid]
        return 200, self._paginate(states, query)

    def _list_labels(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        labels = [lb for lb in self.state.labels.values() if lb["project"] == pid]
        return 200, self._paginate(labels, query)

    def _issue_view(self, issue: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """A work item as the serializer renders it, with ``?expand=state,labels`` applied."""
        view = self._public(issue)
        expand = set(",".join(query.get("expand", [])).split(","))
        if "state" in expand and issue["state"] in self.state.states:
            state = self.state.states[issue["state"]]
            view["state"] = {k: state[k] for k in ("id", "name", "color", "group")}
        if "labels" in expand:
            view["labels"] = [
                {"id": lid, "name": self.state.labels[lid]["name"]}
                for lid in issue["labels"]
                if lid in self.state.labels
            ]
        return view

    def _cycle_view(self, cycle: dict[str, Any]) -> dict[str, Any]:
        issues = [self.state.issues[i] for i in self.state.cycle_issues.get(cycle["id"], [])]
        groups = [self.state.states[i["state"]]["group"] for i in issues]
        return {
            **cycle,
            "total_issues": len(issues),
            "completed_issues": groups.count("completed"),
            "cancelled_issues": groups.count("cancelled"),
            "started_issues": groups.count("started"),
            "unstarted_issues": groups.count("unstarted"),
            "backlog_issues": groups.count("backlog"),
        }

    @staticmethod
    def _cycle_status(cycle: dict[str, Any], now: dt.datetime) -> str:
        start, end = cycle["start_date"], cycle["end_date"]
        if not start or not end:
            return "draft"
        start_dt = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        end_dt = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
        if end_dt < now:
            return "completed"
        if start_dt > now:
            return "upcoming"
        return "current"

    def _list_cycles(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        view = query.get("cycle_view", ["all"])[0]
        now = _now()
        cycles = [
            self._cycle_view(c)
            for c in sorted(self.state.cycles.values(), key=lambda c: c["created_at"], reverse=True)
            if c["project"] == pid and not c["archived_at"]
        ]
        if view == "current":
            return 200, [c for c in cycles if self._cycle_status(c, now) == "current"]
        if view != "all":
            cycles = [c for c in cycles if self._cycle_status(c, now) == view]
        return 200, self._paginate(cycles, query)

    def _cycle(self, pid: str, cid: str) -> dict[str, Any]:
        cycle = self.state.cycles.get(cid)
        if cycle is None or cycle["project"] != pid:
            raise PlaneError(404, NOT_FOUND)
        return cycle

    def _get_cycle(self, pid: str, query: Any, body: Any, cid: str) -> tuple[int, Any]:
        return 200, self._cycle_view(self._cycle(pid, cid))

    def _patch_cycle(self, pid: str, query: Any, body: Any, cid: str) -> tuple[int, Any]:
        cycle = self._cycle(pid, cid)
        if self._cycle_status(cycle, _now()) == "completed" and set(body) - {"sort_order"}:
            raise PlaneError(
                400, {"error": "The Cycle has already been completed so it cannot be edited"}
            )
        for key in ("name", "description", "start_date", "end_date"):
            if key in body:
                cycle[key] = body[key]
        cycle["updated_at"] = _iso(_now())
        return 200, self._cycle_view(cycle)

    def _list_cycle_issues(self, pid: str, query: Any, body: Any, cid: str) -> tuple[int, Any]:
        # Plane does no existence check here: an unknown cycle gives an empty page.
        ids = self.state.cycle_issues.get(cid, [])
        items = [self._issue_view(self.state.issues[i], query) for i in ids]
        return 200, self._paginate(items, query)

    def _add_cycle_issues(self, pid: str, query: Any, body: Any, cid: str) -> tuple[int, Any]:
        cycle = self._cycle(pid, cid)
        issues = body.get("issues") or []
        if not issues:
            raise PlaneError(
                400, {"error": "Work items are required", "code": "MISSING_WORK_ITEMS"}
            )
        if self._cycle_status(cycle, _now()) == "completed":
            raise PlaneError(
                400,
                {
                    "code": "CYCLE_COMPLETED",
                    "message": "The Cycle has already been completed so no new issues can be added",
                },
            )
        known = [i for i in issues if self.state.issues.get(i, {}).get("project") == pid]
        self._move_to_cycle(cid, known)
        rows = [
            {"id": f"{cid}:{i}", "cycle": cid, "issue": i} for i in self.state.cycle_issues[cid]
        ]
        return 200, rows

    def _move_to_cycle(self, cid: str, issue_ids: list[str]) -> None:
        for other, members in self.state.cycle_issues.items():
            if other != cid:
                members[:] = [i for i in members if i not in issue_ids]
        members = self.state.cycle_issues.setdefault(cid, [])
        for issue_id in issue_ids:
            if issue_id not in members:
                members.append(issue_id)
                self.state.issues[issue_id]["updated_at"] = _iso(_now())

    def _list_issues(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        if "external_id" in query and "external_source" in query:
            for issue in self.state.issues.values():
                if (
                    issue["project"] == pid
                    and issue["external_id"] == query["external_id"][0]
                    and issue["external_source"] == query["external_source"][0]
                ):
                    return 200, self._public(issue)
            raise PlaneError(404, NOT_FOUND)
        issues = [self._public(i) for i in self.state.issues.values() if i["project"] == pid]
        return 200, self._paginate(issues, query)

    def _issue(self, pid: str, iid: str) -> dict[str, Any]:
        issue = self.state.issues.get(iid)
        if issue is None or issue["project"] != pid:
            raise PlaneError(404, NOT_FOUND)
        return issue

    def _get_issue(self, pid: str, query: Any, body: Any, iid: str) -> tuple[int, Any]:
        return 200, self._public(self._issue(pid, iid))

    def _validate_issue(self, pid: str, body: dict[str, Any], creating: bool) -> None:
        name = body.get("name")
        if creating and not name:
            raise PlaneError(400, {"name": ["This field is required."]})
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            raise PlaneError(400, {"name": ["Ensure this field has no more than 255 characters."]})
        if "priority" in body and body["priority"] not in PRIORITIES:
            raise PlaneError(400, {"priority": [f'"{body["priority"]}" is not a valid choice.']})
        parent = body.get("parent")
        if parent and self.state.issues.get(parent, {}).get("project") != pid:
            raise PlaneError(
                400, {"parent": ["Parent is not valid issue_id please pass a valid issue_id"]}
            )
        state = body.get("state")
        if state and self.state.states.get(state, {}).get("project") != pid:
            raise PlaneError(400, {"state": ["State is not valid please pass a valid state_id"]})

    def _create_issue(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        self._validate_issue(pid, body, creating=True)
        ext_id, ext_source = body.get("external_id"), body.get("external_source")
        if ext_id and ext_source:
            for issue in self.state.issues.values():
                if (
                    issue["project"] == pid
                    and issue["external_id"] == ext_id
                    and issue["external_source"] == ext_source
                ):
                    raise PlaneError(
                        409,
                        {
                            "error": "Issue with the same external id and external source "
                            "already exists",
                            "id": issue["id"],
                        },
                    )
        return 201, self._public(self._new_issue(pid, body))

    def _new_issue(self, pid: str, body: dict[str, Any]) -> dict[str, Any]:
        project = self.state.projects[pid]
        project["_seq"] += 1
        now = _iso(_now())
        issue = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "description_html": body.get("description_html", "<p></p>"),
            "priority": body.get("priority", "none"),
            "state": body.get("state") or self.state_id(pid, "backlog"),
            "parent": body.get("parent"),
            "labels": list(body.get("labels", [])),
            "assignees": list(body.get("assignees", [])),
            "start_date": body.get("start_date"),
            "target_date": body.get("target_date"),
            "sequence_id": project["_seq"],
            "external_source": body.get("external_source"),
            "external_id": body.get("external_id"),
            "type_id": body.get("type_id"),
            "project": pid,
            "workspace": self.workspace_id,
            "created_at": now,
            "updated_at": body.get("updated_at", now),
            "completed_at": None,
            "archived_at": None,
            "is_draft": False,
            "created_by": self.user_id,
        }
        self.state.issues[issue["id"]] = issue
        return issue

    def _patch_issue(self, pid: str, query: Any, body: Any, iid: str) -> tuple[int, Any]:
        issue = self._issue(pid, iid)
        self._validate_issue(pid, body, creating=False)
        for key in ("name", "description_html", "priority", "state", "parent", "labels"):
            if key in body:
                issue[key] = body[key]
        issue["updated_at"] = _iso(_now())
        return 200, self._public(issue)

    def _create_comment(self, pid: str, query: Any, body: Any, iid: str) -> tuple[int, Any]:
        self._issue(pid, iid)
        if not body.get("comment_html"):
            raise PlaneError(400, {"comment_html": ["This field is required."]})
        ext_id, ext_source = body.get("external_id"), body.get("external_source")
        if ext_id and ext_source:
            # Plane looks the external id up in the whole project, not only on this work item.
            for comment in self.state.comments.values():
                if (
                    comment["project"] == pid
                    and comment["external_id"] == ext_id
                    and comment["external_source"] == ext_source
                ):
                    raise PlaneError(
                        409,
                        {
                            "error": "Issue Comment with the same external id and external "
                            "source already exists",
                            "id": comment["id"],
                        },
                    )
        comment = {
            "id": str(uuid.uuid4()),
            "issue": iid,
            "project": pid,
            "comment_html": body["comment_html"],
            "external_id": ext_id,
            "external_source": ext_source,
            "created_at": _iso(_now()),
        }
        self.state.comments[comment["id"]] = comment
        return 201, comment

    def _list_comments(self, pid: str, query: Any, body: Any, iid: str) -> tuple[int, Any]:
        self._issue(pid, iid)
        items = [c for c in self.state.comments.values() if c["issue"] == iid]
        return 200, self._paginate(items, query)

    def _list_modules(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        modules = [m for m in self.state.modules.values() if m["project"] == pid]
        return 200, self._paginate(modules, query)

    def _create_module(self, pid: str, query: Any, body: Any) -> tuple[int, Any]:
        name = body.get("name")
        if not name:
            raise PlaneError(400, {"name": ["This field is required."]})
        ext_id, ext_source = body.get("external_id"), body.get("external_source")
        for module in self.state.modules.values():
            if module["project"] != pid:
                continue
            if (
                ext_id
                and ext_source
                and (module["external_id"], module["external_source"])
                == (
                    ext_id,
                    ext_source,
                )
            ):
                raise PlaneError(
                    409,
                    {
                        "error": "Module with the same external id and external source already "
                        "exists",
                        "id": module["id"],
                    },
                )
            if module["name"] == name:
                raise PlaneError(
                    400,
                    {
                        "id": module["id"],
                        "code": "MODULE_NAME_ALREADY_EXISTS",
                        "error": "Module with this name already exists",
                        "message": "Module with this name already exists",
                    },
                )
        return 201, self._new_module(pid, body)

    def _new_module(self, pid: str, body: dict[str, Any]) -> dict[str, Any]:
        now = _iso(_now())
        module = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "description": body.get("description", ""),
            "status": body.get("status", "planned"),
            "external_source": body.get("external_source"),
            "external_id": body.get("external_id"),
            "project": pid,
            "workspace": self.workspace_id,
            "created_at": now,
            "updated_at": now,
        }
        self.state.modules[module["id"]] = module
        self.state.module_issues[module["id"]] = []
        return module

    def _get_module(self, pid: str, query: Any, body: Any, mid: str) -> tuple[int, Any]:
        module = self.state.modules.get(mid)
        if module is None or module["project"] != pid:
            raise PlaneError(404, NOT_FOUND)
        return 200, self._public(module)

    def _add_module_issues(self, pid: str, query: Any, body: Any, mid: str) -> tuple[int, Any]:
        if mid not in self.state.modules or self.state.modules[mid]["project"] != pid:
            raise PlaneError(404, NOT_FOUND)
        issues = body.get("issues") or []
        if not issues:
            raise PlaneError(400, {"error": "Issues are required"})
        members = self.state.module_issues[mid]
        for issue_id in issues:
            if (
                self.state.issues.get(issue_id, {}).get("project") == pid
                and issue_id not in members
            ):
                members.append(issue_id)
        return 200, [{"id": f"{mid}:{i}", "module": mid, "issue": i} for i in members]

    def _list_module_issues(self, pid: str, query: Any, body: Any, mid: str) -> tuple[int, Any]:
        ids = self.state.module_issues.get(mid, [])
        return 200, self._paginate([self._public(self.state.issues[i]) for i in ids], query)

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}


if __name__ == "__main__":  # python -m tests.fakes.plane --port N [--seed demo]
    from tests.fakes.plane_demo import main

    raise SystemExit(main())
