"""Fixtures of the blackboard tests: the plugin plus a test plugin of types and agents."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plugins.blackboard import fixture_plugin


@pytest.fixture
def junction_plugins() -> list[str]:
    """Only the blackboard and its test plugin."""
    return ["blackboard", "bbtest"]


@pytest.fixture
def junction_extra_plugins() -> list[tuple[str, Any]]:
    """The test plugin with its types and Python agents."""
    return [("bbtest", fixture_plugin)]


@pytest.fixture
def junction_config() -> dict[str, Any]:
    """A secret key, so HTTP agents' secrets are encrypted at rest."""
    return {"JUNCTION_SECRET_KEY": "blackboard-tests-secret-key-0123456789"}


@pytest.fixture(autouse=True)
def _reset_agents(junction_app: Any) -> Any:
    fixture_plugin.CALLS.clear()
    fixture_plugin.RELEASE.clear()
    fixture_plugin.ENTERED.clear()
    yield
    fixture_plugin.RELEASE.set()  # never leave a runner thread blocked
    quiesce(junction_app)


def quiesce(app: Any) -> None:
    """Wait for the app's runner threads and close its event streams before its database goes."""
    from app.events import get_hub
    from app.operations import runtime

    for thread in list(runtime(app).threads):
        thread.join(60)
    get_hub(app).shutdown()


def run_until_idle(app: Any) -> None:
    """Run every due operation in this thread (deterministic: no runner threads)."""
    from app.operations import run_pending

    with app.app_context():
        while run_pending():
            pass
