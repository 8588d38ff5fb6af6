"""A faithful fake of Jira Cloud's REST API (platform v3 + Agile 1.0) on a real local HTTP server.

Every request goes through what Jira does, in Jira's order: the edge (injected 503 bursts and
dropped connections), Basic authentication with e-mail + API token (401), the burst rate limit
(429 with ``Retry-After`` and ``X-RateLimit-*``), the XSRF check of attachment uploads (403
without ``X-Atlassian-Token: no-check``), then the published contract (the OpenAPI documents, the
ADF schema, the create screen): a request that breaks it gets Jira's 400 ``ErrorCollection`` AND
is recorded in :attr:`FakeJira.violations`, which tests assert empty. Time comes from an injectable
clock (rate limit, search lag, timestamps), so tests never sleep.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.httpserver import make_server
from tests.fakes.jira import spec, views_issue, views_meta
from tests.fakes.jira.common import Call, JiraError, Req, Violation
from tests.fakes.jira.faults import Faults, RateLimit
from tests.fakes.jira.setup import JiraSetup
from tests.fakes.jira.state import Issue, User

View = Callable[[Any, Req], tuple[int, Any]]
P = "/rest/api/3"
A = "/rest/agile/1.0"
ROUTES: list[tuple[str, re.Pattern[str], View]] = [
    (m, re.compile(f"^{path}$"), view)
    for m, path, view in [
        ("GET", f"{P}/myself", views_meta.myself),
        ("GET", f"{P}/project/(?P<projectIdOrKey>[^/]+)", views_meta.get_project),
        ("GET", f"{P}/mypermissions", views_meta.my_permissions),
        (
            "GET",
            f"{P}/issue/createmeta/(?P<projectIdOrKey>[^/]+)/issuetypes",
            views_meta.createmeta_issue_types,
        ),
        (
            "GET",
            f"{P}/issue/createmeta/(?P<projectIdOrKey>[^/]+)/issuetypes/(?P<issueTypeId>[^/]+)",
            views_meta.createmeta_fields,
        ),
        ("GET", f"{P}/user/search", views_meta.user_search),
        ("GET", f"{P}/user/assignable/search", views_meta.assignable_users),
        ("GET", f"{P}/priority/search", views_meta.priority_search),
        ("GET", f"{P}/issueLinkType", views_meta.link_types),
        ("GET", f"{P}/field", views_meta.fields),
        ("PUT", f"{P}/issue/(?P<issueIdOrKey>[^/]+)/assignee", views_issue.assign),
        ("POST", f"{P}/issue", views_issue.create_issue),
        ("GET", f"{P}/issue/(?P<issueIdOrKey>[^/]+)", views_issue.get_issue),
        (
            "PUT",
            f"{P}/issue/(?P<issueIdOrKey>[^/]+)/properties/(?P<propertyKey>[^/]+)",
            views_issue.put_property,
        ),
        (
            "GET",
            f"{P}/issue/(?P<issueIdOrKey>[^/]+)/properties/(?P<propertyKey>[^/]+)",
            views_issue.get_property,
        ),
        ("POST", f"{P}/issueLink", views_issue.link_issues),
        ("POST", f"{P}/issue/(?P<issueIdOrKey>[^/]+)/attachments", views_issue.add_attachments),
        ("POST", f"{P}/issue/(?P<issueIdOrKey>[^/]+)/comment", views_issue.add_comment),
        ("POST", f"{P}/search/jql", views_issue.search_jql),
        ("GET", f"{P}/search/jql", views_issue.search_jql_get),
        ("GET", f"{P}/search", views_issue.removed_search),
        ("POST", f"{P}/search", views_issue.removed_search),
        ("GET", f"{A}/board", views_meta.boards),
        ("GET", f"{A}/board/(?P<boardId>[0-9]+)/sprint", views_meta.board_sprints),
        ("POST", f"{A}/sprint/(?P<sprintId>[0-9]+)/issue", views_issue.move_to_sprint),
    ]
]
ATTACHMENTS = re.compile(f"^{P}/issue/[^/]+/attachments$")
UNAUTHORIZED = "Client must be authenticated to access this resource."


class FakeJira(JiraSetup):
    """A Jira Cloud site on ``127.0.0.1`` (a free port unless given), served from a thread.

    ``email``/``token`` are the API user's credentials (Basic auth). ``clock`` (seconds) drives
    the rate limit, the search lag and timestamps. ``rate_limit`` is a token bucket
    ``(capacity, per_second)``; None turns it off. ``search_lag`` is ``(seconds, searches)``: a
    new issue shows in ``search/jql`` once either is reached (None disables that criterion).
    ``strict_adf`` also refuses what Atlassian's runtime validator refuses beyond the schema
    (empty ``marks``/``attrs``, unsafe link URLs).
    """

    def __init__(
        self,
        *,
        email: str = "dev@example.com",
        token: str | None = None,
        display_name: str = "Dev Eloper",
        clock: Callable[[], float] = time.monotonic,
        rate_limit: tuple[int, float] | None = (1000, 100.0),
        search_lag: tuple[float | None, int | None] = (5.0, 2),
        strict_adf: bool = True,
        check_responses: bool = True,
    ) -> None:
        self._lock = threading.RLock()
        self.email = email
        self.token = token or "ATATT3x" + secrets.token_urlsafe(24)
        self.clock = clock
        self._wall0, self._clock0 = time.time(), clock()
        self.account_id = self._init_state(email, self.token, display_name).account_id
        self.rate_limit = rate_limit
        self._buckets: dict[str, RateLimit] = {}
        self.search_lag = search_lag
        self.strict_adf = strict_adf
        self.check_responses = check_responses
        self.max_attachment_bytes = 10 * 1024 * 1024
        self.max_attachments_per_issue = 2000
        self.faults = Faults()
        self.down = False
        self.calls: list[Call] = []
        self.violations: list[Violation] = []
        self.response_problems: list[str] = []
        self.creates = 0
        self.seeded: dict[str, Any] = {}  # what a seed function created (keys, ids, e-mails)
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, port: int = 0, host: str = "127.0.0.1") -> FakeJira:
        """Serve on ``host:port`` (default: a free loopback port); loads the documents first."""
        spec.platform_api()
        spec.agile_api()
        self._server = make_server(self._handle, ("GET", "POST", "PUT", "DELETE"), host, port)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving (held answers are released first)."""
        self.faults.release_held()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def auth(self) -> tuple[str, str]:
        """``(email, token)`` for ``requests``' ``auth=``."""
        return self.email, self.token

    # -- configuration ------------------------------------------------------------------------
    def set_rate_limit(self, capacity: int | None, per_second: float = 1.0) -> None:
        """A fresh burst budget per account (``None``: no limit)."""
        with self._lock:
            self.rate_limit = None if capacity is None else (capacity, per_second)
            self._buckets.clear()

    def set_search_lag(self, seconds: float | None = None, searches: int | None = None) -> None:
        """When a new issue becomes searchable: after ``seconds`` of the clock, or after
        ``searches`` searches that missed it, whichever comes first (None: never by that rule;
        both None: never, except through ``reconcileIssues``). ``(0, 0)``: immediately."""
        with self._lock:
            self.search_lag = (seconds, searches)

    # -- inspection helpers -----------------------------------------------------------------------
    def calls_to(self, method: str | None = None, pattern: str = "") -> list[Call]:
        """Recorded calls, optionally filtered by method and a path regex."""
        regex = re.compile(pattern) if pattern else None
        with self._lock:
            return [
                c
                for c in self.calls
                if (method is None or c.method == method)
                and (regex is None or regex.search(c.path))
            ]

    def iso_now(self, rfc3339: bool = False) -> str:
        """Now on the fake's clock, in Jira's timestamp format (``...+0000``) or RFC 3339."""
        moment = dt.datetime.fromtimestamp(self._wall0 + self.clock() - self._clock0, dt.UTC)
        zone = "+00:00" if rfc3339 else "+0000"
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{zone}"

    def _reset_iso(self, seconds: float) -> str:
        moment = dt.datetime.fromtimestamp(
            self._wall0 + self.clock() - self._clock0 + seconds, dt.UTC
        )
        return moment.strftime("%Y-%m-%dT%H:%MZ")

    # -- used by the views ------------------------------------------------------------------
    def violation(self, req: Req, kind: str, messages: list[str]) -> None:
        """Record a contract violation."""
        with self._lock:
            self.violations.append(Violation(req.method, req.path, kind, messages))

    def issue_created(self, issue: Issue) -> None:
        """Count a create and run the fault actions due after it."""
        self.creates += 1
        for action in self.faults.created():
            action()

    def searchable(self, issue: Issue) -> bool:
        """Whether the search index has caught up with ``issue`` yet."""
        seconds, searches = self.search_lag
        if seconds is not None and self.clock() - issue.created_at >= seconds:
            return True
        return searches is not None and self.state.searches - issue.created_search > searches

    # -- request handling -----------------------------------------------------------------------
    def _authenticate(self, headers: Any) -> User:
        value = headers.get("Authorization") or ""
        scheme, _, encoded = value.partition(" ")
        try:
            email, _, token = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            email = token = ""
        user = self.state.user_by_email(email) if scheme.lower() == "basic" else None
        if user is None or not user.active or token not in user.tokens:
            raise JiraError(401, [UNAUTHORIZED], headers={"WWW-Authenticate": 'Basic realm="atl"'})
        if self.faults.count_call(user.email):
            user.tokens.clear()
            raise JiraError(401, [UNAUTHORIZED], headers={"WWW-Authenticate": 'Basic realm="atl"'})
        return user

    def _throttle(self, user: User) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        bucket = self._buckets.get(user.account_id)
        if bucket is None:
            bucket = self._buckets[user.account_id] = RateLimit(*self.rate_limit)
        allowed, wait = bucket.take(self.clock())
        headers = bucket.headers(None if allowed else wait, self._reset_iso)
        if not allowed:
            raise JiraError(429, ["Rate limit exceeded."], headers=headers)
        return headers

    def _process(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, headers: Any
    ) -> tuple[int, Any, dict[str, str], Req | None]:
        rule = self.faults.take("before", method, path)
        if rule is not None:
            if rule.action == "reset":
                return -1, None, {}, None
            raise JiraError(rule.status, rule.body["errorMessages"], headers=rule.headers)
        with self._lock:
            user = self._authenticate(headers)
            rate_headers = self._throttle(user)
        content_type = headers.get("Content-Type") or ""
        body = None
        req = Req(method, path, query, dict(headers.items()), raw, None, user)
        try:
            if ATTACHMENTS.match(path) and method == "POST":
                if (headers.get("X-Atlassian-Token") or "").lower() != "no-check":
                    self.violation(req, "xsrf", ["X-Atlassian-Token: no-check is missing"])
                    raise JiraError(403, ["XSRF check failed"])
            elif raw and "json" in content_type:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    self.violation(req, "json", [str(exc)])
                    raise JiraError(400, [f"Unexpected character in JSON: {exc}"]) from exc
            req.body = body
            pairs = [(k, v) for k, values in query.items() for v in values]
            try:
                spec.check_request(method, path, pairs, req.headers, raw, content_type or None)
            except spec.ContractError as exc:
                self.violation(req, exc.kind, exc.messages)
                if exc.kind == "unknown-endpoint":
                    raise JiraError(404, ["Not Found"]) from exc
                if any("mimetype not found" in m.lower() for m in exc.messages):
                    raise JiraError(415, ["Unsupported Media Type"]) from exc
                raise JiraError(400, exc.messages) from exc
            for verb, pattern, view in ROUTES:
                match = pattern.match(path)
                if match and verb == method:
                    req.params = match.groupdict()
                    with self._lock:
                        status, result = view(self, req)
                    return status, result, rate_headers, req
            self.violation(req, "unimplemented", ["the fake does not implement this endpoint"])
            raise JiraError(501, ["The fake Jira does not implement this endpoint."])
        except JiraError as err:
            err.headers = {**rate_headers, **err.headers}
            err.req = req
            raise

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if self.down:
            _drop(handler)
            return
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        req: Req | None = None
        try:
            status, body, headers, req = self._process(
                method, parts.path, query, raw, handler.headers
            )
        except JiraError as err:
            status, body, headers = err.status, err.body, err.headers
            req = err.req
        except Exception as exc:  # a bug of the fake must show, not hang the client
            status, body, headers = 500, {"errorMessages": [f"fake Jira bug: {exc!r}"]}, {}
            self.response_problems.append(f"{method} {parts.path}: {exc!r}")
        after = None
        if status >= 0:
            after = self.faults.take("after", method, parts.path, ok=200 <= status < 300)
        if after is not None and after.action == "status":
            status, body, headers, after = after.status, after.body, dict(after.headers), None
        with self._lock:
            recorded = 0 if status < 0 or after is not None else status
            self.calls.append(
                Call(
                    method,
                    parts.path,
                    query,
                    recorded,
                    self.clock(),
                    req.body if req else None,
                    req.user.account_id if req else None,
                )
            )
        if status < 0:
            _drop(handler)
            return
        if after is not None:
            if after.action == "timeout":
                self.faults.hold()
            _drop(handler)
            return
        data = b"" if body is None else json.dumps(body).encode()
        if self.check_responses and 200 <= status < 300:
            pairs = [(k, v) for k, values in query.items() for v in values]
            problems = spec.check_response(method, parts.path, pairs, status, data)
            if problems:
                self.response_problems.append(f"{method} {parts.path}: {'; '.join(problems)}")
        _send(handler, status, data, headers)


def _send(handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict) -> None:
    try:
        handler.send_response(status)
        if data:
            handler.send_header("Content-Type", "application/json;charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True  # the client gave up; Jira's work is done all the same


def _drop(handler: BaseHTTPRequestHandler) -> None:
    """Reset the connection without an answer (RST, as a dying proxy or network does)."""
    handler.close_connection = True
    try:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
    except OSError:
        pass
