"""A faithful fake Jira Cloud for tests: see :class:`~tests.fakes.jira.server.FakeJira`.

    clock = ManualClock()
    fake = FakeJira(clock=clock)            # API user dev@example.com, fake.token, fake.auth
    seed_demo(fake)                         # tests.fakes.jira.demo: project DEMO, users, sprints
    with fake:                              # a real HTTP server on 127.0.0.1:<free port>
        ... point the client at fake.url with Basic fake.email:fake.token ...
        fake.faults.lose_answer("reset")    # the next create succeeds, its answer is lost
        assert fake.label_counts("junction-") == {...}   # no duplicate issue
        assert fake.blocks() == [("DEMO-1", "DEMO-2")]   # DEMO-1 blocks DEMO-2
        assert fake.violations == []        # every request kept to the published contract

Run it by hand with ``python -m tests.fakes.jira --port 8091 --seed demo``.
"""

from tests.fakes.jira.common import Call, Violation
from tests.fakes.jira.faults import Faults, ManualClock
from tests.fakes.jira.server import FakeJira

__all__ = ["Call", "FakeJira", "Faults", "ManualClock", "Violation"]
