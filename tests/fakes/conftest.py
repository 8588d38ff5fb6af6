"""Fixtures for the fakes' own tests: a started, demo-seeded fake Jira on a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fakes.jira import FakeJira, ManualClock
from tests.fakes.jira.demo import seed_demo


@dataclass
class JiraClient:
    """``requests`` against the fake, authenticated as its API user."""

    fake: FakeJira
    session: requests.Session

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; ``path`` is relative to the site (``/rest/api/3/...``)."""
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.fake.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET."""
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST."""
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        """PUT."""
        return self.call("PUT", path, **kwargs)


@pytest.fixture
def jira_clock() -> ManualClock:
    """The fake's clock: moves only when the test says so."""
    return ManualClock()


@pytest.fixture
def jira(jira_clock: ManualClock) -> Iterator[FakeJira]:
    """A running fake Jira with the demo site. Its own answers must match the documents."""
    fake = FakeJira(clock=jira_clock)
    seed_demo(fake)
    with fake:
        yield fake
    assert fake.response_problems == []


@pytest.fixture
def demo(jira: FakeJira) -> dict[str, Any]:
    """What the demo seed created (keys, ids, e-mails)."""
    return jira.seeded


@pytest.fixture
def client(jira: FakeJira) -> Iterator[JiraClient]:
    """An authenticated HTTP client of the fake."""
    with requests.Session() as session:
        session.auth = jira.auth
        yield JiraClient(jira, session)
