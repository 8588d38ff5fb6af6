"""``python -m tests.fakes.jira --port N [--seed demo]``: see :mod:`tests.fakes.jira.demo`."""

from tests.fakes.jira.demo import main

raise SystemExit(main())
