"""The outbound client against a real local server that injects faults (tests/fakes)."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.http import (
    HttpAuthError,
    HttpConflict,
    HttpError,
    HttpNotFound,
    HttpPermissionError,
    HttpRateLimited,
    HttpTemporaryError,
    HttpValidationError,
    ServiceClient,
    parse_reset,
    parse_retry_after,
    redact_url,
    remote_message,
)
from app.http.ratelimit import MemoryLimiter, RateLimit
from tests.fakes.fault_server import FaultServer, Reply
from tests.support import free_port

SECRET = "plane_api_0123456789abcdef0123456789abcdef"
PINNED = 1_700_000_000.0  # the fault server's Date, when a test pins it


class FakeTime:
    """A monotonic clock that only moves when the client sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return PINNED + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        yield running


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def make_client(url: str, fake: FakeTime, **kwargs: Any) -> ServiceClient:
    """A client with fake time, no jitter and its own limiter (tests stay independent)."""
    options: dict[str, Any] = {
        "headers": {"X-API-Key": SECRET},
        "timeout": (1.0, 2.0),
        "limiter": MemoryLimiter(),
        "clock": fake.clock,
        "wall_clock": fake.wall,
        "sleep": fake.sleep,
        "random": lambda: 0.0,
        "max_retries": 3,
    }
    options.update(kwargs)
    return ServiceClient(options.pop("service", f"svc-{uuid.uuid4().hex[:8]}"), url, **options)


# -- retries ------------------------------------------------------------------------------------


def test_get_is_retried_after_503_with_backoff(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/items/", [Reply(503), Reply(503), Reply(200, json={"ok": True})])
    client = make_client(server.url, fake, backoff_base=0.5)

    response = client.get("/items/")

    assert response.json() == {"ok": True}
    assert len(server.calls("GET", "/items/")) == 3
    # Exponential (0.5, 1.0) with equal jitter; random() == 0 gives the lower bound.
    assert fake.sleeps == [0.25, 0.5]


def test_jitter_stays_within_the_backoff_window(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/j/", [Reply(500), Reply(200)])
    client = make_client(server.url, fake, backoff_base=2.0, random=lambda: 0.999)

    client.get("/j/")

    assert 1.0 <= fake.sleeps[0] <= 2.0


def test_post_that_got_429_is_retried_honouring_retry_after(
    server: FaultServer, fake: FakeTime
) -> None:
    limited = Reply(
        429,
        json={"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"},
        headers={"Retry-After": "7"},
    )
    server.script("POST", "/issues/", [limited, Reply(201, json={"id": "a"})])
    client = make_client(server.url, fake)

    response = client.post("/issues/", json={"name": "x"})

    assert response.status_code == 201
    assert [c.json() for c in server.calls("POST")] == [{"name": "x"}, {"name": "x"}]
    assert fake.sleeps == [7.0]


def test_retry_after_as_http_date(server: FaultServer, fake: FakeTime) -> None:
    server.now = lambda: PINNED
    retry_at = formatdate(PINNED + 12, usegmt=True)
    server.script("GET", "/d/", [Reply(429, headers={"Retry-After": retry_at}), Reply(200)])
    client = make_client(server.url, fake)

    client.get("/d/")

    # Relative to the response's Date, not to our clock.
    assert fake.sleeps == [12.0]


def test_429_until_retries_run_out_is_rate_limited(server: FaultServer, fake: FakeTime) -> None:
    server.script(
        "GET",
        "/busy/",
        Reply(429, json={"error_message": "RATE_LIMIT_EXCEEDED"}, headers={"Retry-After": "1"}),
    )
    client = make_client(server.url, fake, max_retries=2)

    with pytest.raises(HttpRateLimited) as caught:
        client.get("/busy/")

    error = caught.value
    assert (error.category, error.status, error.retry_after) == ("rate_limited", 429, 1.0)
    assert error.retryable
    assert "RATE_LIMIT_EXCEEDED" in str(error)
    assert len(server.calls("GET", "/busy/")) == 3
    assert fake.sleeps == [1.0, 1.0]


def test_post_with_read_timeout_is_not_retried(server: FaultServer, fake: FakeTime) -> None:
    server.script("POST", "/slow/", [Reply(delay=10), Reply(201)])
    client = make_client(server.url, fake, timeout=(1.0, 0.2))

    with pytest.raises(HttpTemporaryError) as caught:
        client.post("/slow/", json={})

    assert "read timeout" in str(caught.value)
    assert caught.value.status is None
    assert len(server.calls("POST", "/slow/")) == 1
    assert fake.sleeps == []


def test_get_with_read_timeout_is_retried(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/slow/", [Reply(delay=10), Reply(200, json=[1])])
    client = make_client(server.url, fake, timeout=(1.0, 0.2))

    assert client.get("/slow/").json() == [1]
    assert len(server.calls("GET", "/slow/")) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"idempotent": True}, {"headers": {"Idempotency-Key": "export-42"}}],
    ids=["flag", "idempotency-key"],
)
def test_post_marked_idempotent_is_retried_after_read_timeout(
    server: FaultServer, fake: FakeTime, kwargs: dict[str, Any]
) -> None:
    server.script("POST", "/slow/", [Reply(delay=10), Reply(201, json={"id": 1})])
    client = make_client(server.url, fake, timeout=(1.0, 0.2))

    assert client.post("/slow/", json={"external_id": "F-1"}, **kwargs).status_code == 201
    assert len(server.calls("POST", "/slow/")) == 2


def test_dropped_connection_retries_get_but_not_post(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/drop/", [Reply(drop=True), Reply(200, json={"ok": 1})])
    server.script("POST", "/drop/", [Reply(drop=True), Reply(201)])
    client = make_client(server.url, fake)

    assert client.get("/drop/").json() == {"ok": 1}
    with pytest.raises(HttpTemporaryError) as caught:
        client.post("/drop/", json={})

    assert "connection lost" in str(caught.value)
    assert len(server.calls("GET", "/drop/")) == 2
    assert len(server.calls("POST", "/drop/")) == 1


def test_post_is_retried_when_the_connection_was_refused(fake: FakeTime) -> None:
    port = free_port()
    started: list[FaultServer] = []

    def sleep_then_start(seconds: float) -> None:
        # The service comes up while we back off: the retried POST reaches it exactly once.
        fake.sleep(seconds)
        if not started:
            started.append(FaultServer(port=port).start())
            started[0].script("POST", "/issues/", Reply(201, json={"id": 7}))

    client = make_client(f"http://127.0.0.1:{port}", fake, sleep=sleep_then_start)
    try:
        response = client.post("/issues/", json={"name": "x"})
        assert response.json() == {"id": 7}
        assert len(started[0].calls("POST", "/issues/")) == 1
        assert len(fake.sleeps) == 1
    finally:
        for running in started:
            running.close()


def test_connection_refused_exhausts_retries_as_temporary(fake: FakeTime) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}", fake, max_retries=2)

    with pytest.raises(HttpTemporaryError) as caught:
        client.post("/x/", json={})

    assert "connect" in str(caught.value)
    assert len(fake.sleeps) == 2


def test_500_on_post_is_not_retried(server: FaultServer, fake: FakeTime) -> None:
    server.script("POST", "/p/", [Reply(500, json={"error": "boom"}), Reply(201)])
    client = make_client(server.url, fake)

    with pytest.raises(HttpTemporaryError) as caught:
        client.post("/p/", json={})

    assert caught.value.status == 500
    assert "boom" in str(caught.value)
    assert len(server.calls("POST", "/p/")) == 1


# -- categories ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls", "category", "expected"),
    [
        (
            401,
            {"detail": "Authentication credentials were not provided."},
            HttpAuthError,
            "auth",
            "Authentication credentials were not provided.",
        ),
        (
            403,
            {"detail": "You do not have permission to perform this action."},
            HttpPermissionError,
            "permission",
            "You do not have permission to perform this action.",
        ),
        (
            404,
            {"error": "The requested resource does not exist."},
            HttpNotFound,
            "not_found",
            "The requested resource does not exist.",
        ),
        (
            409,
            {"error": "Issue with the same external id already exists", "id": "u-1"},
            HttpConflict,
            "conflict",
            "Issue with the same external id already exists",
        ),
        (
            422,
            {"errors": {"name": "is required"}},
            HttpValidationError,
            "validation",
            "name: is required",
        ),
        (
            400,
            {
                "errorMessages": ["Field 'priority' is required"],
                "errors": {"customfield_10020": "The Sprint (id) must be a number"},
            },
            HttpValidationError,
            "validation",
            "Field 'priority' is required; customfield_10020: The Sprint (id) must be a number",
        ),
    ],
)
def test_error_categories_carry_the_remote_message(
    server: FaultServer,
    fake: FakeTime,
    status: int,
    body: dict[str, Any],
    cls: type[HttpError],
    category: str,
    expected: str,
) -> None:
    server.script("GET", "/thing/", [Reply(status, json=body), Reply(200)])
    client = make_client(server.url, fake)

    with pytest.raises(cls) as caught:
        client.get("/thing/")

    error = caught.value
    assert (error.category, error.status) == (category, status)
    assert error.remote_message == expected
    assert expected in str(error)
    assert error.body == body
    assert not error.retryable
    assert len(server.calls("GET", "/thing/")) == 1  # client errors are never retried
    assert fake.sleeps == []


def test_to_junction_error_maps_retryable_failures_to_503(
    server: FaultServer, fake: FakeTime
) -> None:
    server.script("GET", "/x/", Reply(429, headers={"Retry-After": "30"}))
    client = make_client(server.url, fake, max_retries=0)

    with pytest.raises(HttpRateLimited) as caught:
        client.get("/x/")
    problem = caught.value.to_junction_error()

    assert (problem.status, problem.code) == (503, "UPSTREAM_RATE_LIMITED")
    assert problem.headers["Retry-After"] == "30"
    assert problem.extra["error_category"] == "rate_limited"


# -- rate limits --------------------------------------------------------------------------------


def test_token_bucket_makes_the_fourth_call_wait(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/cycles/", Reply(200, json=[]))
    client = make_client(server.url, fake, rate_limit=RateLimit(3, burst=3))

    for _ in range(4):
        client.get("/cycles/")

    assert fake.sleeps == [20.0]
    assert len(server.calls()) == 4


def test_named_bucket_and_the_key_budget(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/poll/", Reply(200))
    client = make_client(
        server.url,
        fake,
        rate_limit=RateLimit(6, burst=2),
        buckets={"polling": RateLimit(2, burst=1), "import": RateLimit(600, burst=10)},
    )

    client.get("/poll/", bucket="polling")  # polling bucket now empty, key has 1 token left
    client.get("/poll/")  # no bucket: only the key budget, no wait
    assert fake.sleeps == []
    client.get("/poll/", bucket="import")  # key budget empty: waits 10 s for a key token
    assert fake.sleeps == [10.0]
    client.get("/poll/", bucket="polling")  # polling needs 30 s since its last token
    assert sum(fake.sleeps) == pytest.approx(30.0)

    with pytest.raises(ValueError):
        client.get("/poll/", bucket="unknown")


def test_remaining_zero_pauses_until_reset(server: FaultServer, fake: FakeTime) -> None:
    server.now = lambda: PINNED
    server.script(
        "GET",
        "/r/",
        [
            Reply(200, headers={"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1"}),
            Reply(
                200,
                headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(PINNED + 45))},
            ),
            Reply(200, headers={"X-RateLimit-Remaining": "59"}),
        ],
    )
    client = make_client(server.url, fake)

    client.get("/r/")
    client.get("/r/")
    assert fake.sleeps == []  # the call that used the last token is not delayed
    client.get("/r/")
    assert fake.sleeps == [45.0]


def test_wait_beyond_the_deadline_fails_fast(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/x/", Reply(429, headers={"Retry-After": "300"}))
    client = make_client(server.url, fake, max_elapsed=60)

    with pytest.raises(HttpRateLimited) as caught:
        client.get("/x/")

    assert caught.value.retry_after == 300
    assert fake.sleeps == []
    assert len(server.calls()) == 1


def test_local_budget_beyond_the_deadline_is_rate_limited(
    server: FaultServer, fake: FakeTime
) -> None:
    server.script("GET", "/x/", Reply(200))
    client = make_client(server.url, fake, rate_limit=RateLimit(1, burst=1))
    client.get("/x/")

    with pytest.raises(HttpRateLimited) as caught:
        client.get("/x/", max_elapsed=10)

    assert caught.value.status is None
    assert caught.value.retry_after == pytest.approx(60.0)
    assert len(server.calls()) == 1


def test_total_wait_is_bounded_by_max_elapsed(server: FaultServer, fake: FakeTime) -> None:
    server.script("GET", "/x/", Reply(503))
    client = make_client(server.url, fake, max_retries=50, backoff_base=4, max_elapsed=28)

    with pytest.raises(HttpTemporaryError):
        client.get("/x/")

    assert sum(fake.sleeps) <= 28
    assert fake.sleeps == [2.0, 4.0, 8.0]  # the next (15 s) would pass the deadline


def test_pause_from_429_is_shared_by_clients_of_the_same_key(
    server: FaultServer, fake: FakeTime
) -> None:
    server.script("GET", "/a/", [Reply(429, headers={"Retry-After": "20"})])
    server.script("GET", "/b/", Reply(200))
    limiter = MemoryLimiter()
    first = make_client(server.url, fake, service="plane", limiter=limiter, max_retries=0)
    second = make_client(server.url, fake, service="plane", limiter=limiter)
    assert first.scope == second.scope  # same credential, same budget

    with pytest.raises(HttpRateLimited):
        first.get("/a/")
    second.get("/b/")

    assert fake.sleeps == [20.0]


# -- secrets ------------------------------------------------------------------------------------


def test_no_secret_in_errors_or_logs(
    server: FaultServer, fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script("GET", "/me/", Reply(403, json={"detail": f"Given API token {SECRET} is bad"}))
    server.script("GET", "/q/", [Reply(503), Reply(500, body=f"oops token={SECRET}")])
    client = make_client(server.url, fake, max_retries=1)

    errors: list[HttpError] = []
    for call in (
        lambda: client.get("/me/"),
        lambda: client.get("/q/", params={"api_key": SECRET, "page": "2"}),
        lambda: client.get(f"/q/?token={SECRET}"),
    ):
        with pytest.raises(HttpError) as caught:
            call()
        errors.append(caught.value)

    refused = make_client(
        f"http://user:{SECRET}@127.0.0.1:{free_port()}", fake, headers={}, max_retries=1
    )
    with pytest.raises(HttpTemporaryError) as caught:
        refused.get("/x/", params={"access_token": SECRET})
    errors.append(caught.value)

    assert server.calls("GET", "/me/")[0].headers["X-API-Key"] == SECRET  # it was sent
    for error in errors:
        for text in (str(error), repr(error), str(error.body), error.url, str(error.__context__)):
            assert SECRET not in text
    assert "page=2" in errors[1].url
    assert SECRET not in caplog.text
    assert "/q/" in caplog.text  # the calls were logged, just not the credentials


def test_basic_auth_credentials_never_leak(
    server: FaultServer, fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "ATATT3xFfGF0-jira-api-token-value"
    encoded = base64.b64encode(f"me@example.com:{token}".encode()).decode()
    server.script(
        "GET", "/rest/api/3/myself", Reply(401, json={"errorMessages": [f"bad Basic {encoded}"]})
    )
    client = make_client(server.url, fake, headers={}, auth=("me@example.com", token))

    with pytest.raises(HttpAuthError) as caught:
        client.get("/rest/api/3/myself")

    assert server.calls()[0].headers["Authorization"] == f"Basic {encoded}"
    for text in (str(caught.value), str(caught.value.body), caplog.text, repr(client)):
        assert token not in text
        assert encoded not in text


def test_api_key_header_is_dropped_on_a_cross_host_redirect(fake: FakeTime) -> None:
    with FaultServer() as origin, FaultServer() as elsewhere:
        elsewhere.script("GET", "/landing", Reply(200))
        origin.script("GET", "/moved", Reply(302, headers={"Location": elsewhere.url + "/landing"}))
        # Same address, different port: a different origin for requests.
        client = make_client(origin.url.replace("127.0.0.1", "localhost"), fake)

        client.get("/moved")

        assert "X-API-Key" not in elsewhere.calls()[0].headers
        assert origin.calls()[0].headers["X-API-Key"] == SECRET


def test_absolute_url_to_another_host_is_refused(server: FaultServer, fake: FakeTime) -> None:
    client = make_client(server.url, fake)
    with pytest.raises(ValueError):
        client.get("https://evil.example/steal")


# -- metrics ------------------------------------------------------------------------------------


def test_each_attempt_is_counted(server: FaultServer, fake: FakeTime) -> None:
    service = f"metrics-{uuid.uuid4().hex[:8]}"
    server.script("GET", "/m/", [Reply(503), Reply(200)])
    server.script("POST", "/slow/", Reply(delay=10))
    client = make_client(server.url, fake, service=service, timeout=(1.0, 0.2))

    client.get("/m/")
    with pytest.raises(HttpTemporaryError):
        client.post("/slow/")

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"service": service, **labels})

    total = "junction_http_client_requests_total"
    assert sample(total, method="GET", status_class="5xx") == 1
    assert sample(total, method="GET", status_class="2xx") == 1
    assert sample(total, method="POST", status_class="timeout") == 1
    assert sample("junction_http_client_request_duration_seconds_count", method="GET") == 2
    assert sample("junction_http_client_retries_total", reason="503") == 1


# -- parsing helpers ----------------------------------------------------------------------------


def test_header_parsing() -> None:
    now = PINNED
    assert parse_retry_after("58", now) == 58
    assert parse_retry_after(formatdate(now + 5, usegmt=True), now) == 5
    assert parse_retry_after(formatdate(now - 5, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_reset(str(int(now + 60)), now) == 60  # Plane: epoch seconds
    assert parse_reset(str(int((now + 2) * 1000)), now) == 2  # epoch milliseconds
    assert parse_reset("30", now) == 30  # delta seconds
    assert parse_reset("2023-11-14T22:15Z", now) == 100  # Jira: ISO-8601 (PINNED is 22:13:20Z)
    assert parse_reset("garbage", now) is None


def test_redact_url() -> None:
    assert redact_url("https://u:p@h.example/a?token=x&page=2") == (
        "https://***@h.example/a?token=***&page=2"
    )
    assert redact_url("http://h/a?api_key=1&X-Amz-Signature=2") == (
        "http://h/a?api_key=***&X-Amz-Signature=***"
    )


def test_remote_message_shapes() -> None:
    assert remote_message({"detail": "nope"}) == "nope"
    assert remote_message({"non_field_errors": ["Project ID is required"]}) == (
        "non_field_errors: Project ID is required"
    )
    assert remote_message({"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}) == (
        "RATE_LIMIT_EXCEEDED"
    )
    assert remote_message("<html><body>Bad gateway</body></html>") is None
    assert remote_message("plain failure\nmore") == "plain failure"
