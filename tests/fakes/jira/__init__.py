"""A faithful fake Jira Cloud for tests: see :class:`~tests.fakes.jira.server.FakeJira`.

Run it by hand with ``python -m tests.fakes.jira --port 8091 --seed demo``.
"""

from tests.fakes.jira.common import Call, Violation
from tests.fakes.jira.faults import Faults, ManualClock
from tests.fakes.jira.server import FakeJira

__all__ = ["Call", "FakeJira", "Faults", "ManualClock", "Violation"]
