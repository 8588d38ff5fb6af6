"""Run the fake Jira by hand: ``python -m tests.fakes.jira --port 8091 --seed demo``.

Serves :class:`~tests.fakes.jira.server.FakeJira` in the foreground. With ``--seed demo`` it has
a project ``DEMO`` (Task, Bug, Story, Epic; the five default priorities, ``Medium`` by default),
three assignable colleagues and one who cannot be assigned, a scrum board with a closed, an
active and a future sprint, a kanban board, and a project ``SECRET`` the API user cannot browse.
The first line on stdout is JSON (``url``, ``email``, ``token``, ``project_key``, ``sprints``,
``users``) for scripts; the lines after it (on stderr) say how to point Junction at it. Ctrl-C or
SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from tests.fakes.jira.server import FakeJira

DEMO_EMAIL = "dev@example.com"
DEMO_TOKEN = "ATATT3xFakeJiraDemoToken0000000000"
COLLEAGUES = (
    ("alice@example.com", "Alice Martin", True),
    ("bob@example.com", "Bob Okafor", True),
    ("chen@example.com", "Chen Wei", True),
)


def seed_demo(fake: FakeJira) -> dict[str, Any]:
    """Fill ``fake`` with the demo site; what was created (also kept in ``fake.seeded``)."""
    users = {email: fake.add_user(email, name).account_id for email, name, _ in COLLEAGUES}
    outsider = fake.add_user("dana@example.com", "Dana Outsider")
    project = fake.add_project("DEMO", "Demo Project")
    fake.revoke_permission("DEMO", "ASSIGNABLE_USER", outsider.email)
    secret = fake.add_project("SECRET", "Secret Project", members=["alice@example.com"])
    board = fake.add_board("DEMO", "DEMO board", "scrum")
    fake.add_board("DEMO", "DEMO kanban", "kanban")
    sprints = {
        s.name: s.id
        for s in (
            fake.add_sprint(board.id, "DEMO Sprint 1", "closed"),
            fake.add_sprint(board.id, "DEMO Sprint 2", "active"),
            fake.add_sprint(board.id, "DEMO Sprint 3", "future"),
        )
    }
    fake.seeded = {
        "project_key": project.key,
        "project_id": project.id,
        "hidden_project_key": secret.key,
        "board_id": board.id,
        "sprints": sprints,
        "users": {**users, outsider.email: outsider.account_id},
        "unassignable_user": outsider.email,
    }
    return fake.seeded


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.jira",
        description="Serve a fake Jira Cloud site for trying Junction's jira plugin.",
    )
    parser.add_argument("--port", type=int, default=8091, help="Port (0: any free port).")
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default loopback).")
    parser.add_argument("--seed", choices=["demo", "none"], default="demo", help="Initial data.")
    parser.add_argument("--email", default=DEMO_EMAIL, help="The API user's e-mail.")
    parser.add_argument("--token", default=DEMO_TOKEN, help="The API token clients must send.")
    parser.add_argument(
        "--rate-limit",
        default="1000/100",
        help="Burst budget CAPACITY/PER_SECOND (token bucket), or 'off'. Default 1000/100.",
    )
    parser.add_argument(
        "--search-lag", type=float, default=2.0, help="Seconds before a new issue is searchable."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM."""
    args = parse_args(argv)
    rate: tuple[int, float] | None = None
    if args.rate_limit != "off":
        capacity, _, per_second = args.rate_limit.partition("/")
        rate = (int(capacity), float(per_second or 1))
    fake = FakeJira(
        email=args.email, token=args.token, rate_limit=rate, search_lag=(args.search_lag, None)
    )
    seeded: dict[str, Any] = seed_demo(fake) if args.seed == "demo" else {}
    fake.start(port=args.port, host=args.host)
    info = {"url": fake.url, "email": fake.email, "token": fake.token, **seeded}
    print(json.dumps(info), flush=True)
    print(
        f"Fake Jira at {fake.url} (user {fake.email}, token {fake.token}).\n"
        f"  curl -u {fake.email}:{fake.token} {fake.url}/rest/api/3/myself\n"
        f"  Set the jira plugin's site URL to {fake.url}, its account e-mail and API token to\n"
        f"  the above, its project key to {seeded.get('project_key', '<KEY>')}. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    fake.stop()
    if fake.violations:
        print("Contract violations seen:", file=sys.stderr)
        for violation in fake.violations:
            print(f"  {violation}", file=sys.stderr)
    return 0
