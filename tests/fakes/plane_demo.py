"""Run the fake Plane by hand: ``python -m tests.fakes.plane --port 8090 --seed demo``.

Serves :class:`~tests.fakes.plane.FakePlane` in the foreground with a demo workspace
(``demo``), one project, three cycles (finished, current, upcoming) and work items in every
state group, so the planning plugin can be tried without a Plane server. The first line on
stdout is JSON (``url``, ``api_key``, ``workspace``, ``project_id``, ``cycles``) for scripts;
the lines after it say how to point Junction at it. Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
from typing import Any

from tests.fakes.plane import FakePlane

DEMO_API_KEY = "plane_api_" + "demo" * 8
DEMO_WORKSPACE = "demo"

# (title, state group, priority, cycle: "previous" | "current" | "next" | None)
DEMO_ITEMS: tuple[tuple[str, str, str, str | None], ...] = (
    ("Sign-in page", "completed", "high", "previous"),
    ("Password reset by e-mail", "completed", "medium", "previous"),
    ("OAuth login with GitHub", "started", "urgent", "current"),
    ("Session expiry and refresh", "unstarted", "high", "current"),
    ("Audit log of sign-ins", "completed", "medium", "current"),
    ("Rate-limit failed logins", "backlog", "low", "current"),
    ("Two-factor authentication", "unstarted", "medium", "next"),
    ("Account deletion", "backlog", "none", None),
)


def seed_demo(fake: FakePlane, today: dt.datetime | None = None) -> dict[str, Any]:
    """Fill ``fake`` with the demo project, cycles and work items; what was created."""
    today = today or dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    project = fake.add_project("Demo Project", "DEMO")
    week = dt.timedelta(days=7)
    starts = {"previous": today - 2 * week, "current": today - dt.timedelta(days=3)}
    starts["next"] = starts["current"] + 2 * week
    cycles = {
        key: fake.add_cycle(project, f"Sprint {number}", start, start + 2 * week - dt.timedelta(1))
        for number, (key, start) in enumerate(sorted(starts.items(), key=lambda i: i[1]), 1)
    }
    items = []
    for title, group, priority, cycle in DEMO_ITEMS:
        issue = fake.add_issue(
            project,
            title,
            state=fake.state_id(project, group),
            priority=priority,
            description_html=f"<p>{title}: acceptance criteria go here.</p>",
        )
        if cycle is not None:
            fake.add_to_cycle(cycles[cycle], issue)
        items.append(issue)
    return {"project_id": project, "cycles": cycles, "work_items": items}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.plane",
        description="Serve a fake Plane API for trying Junction.",
    )
    parser.add_argument("--port", type=int, default=8090, help="Port (0: any free port).")
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default loopback).")
    parser.add_argument("--seed", choices=["demo", "none"], default="demo", help="Initial data.")
    parser.add_argument("--api-key", default=DEMO_API_KEY, help="The key clients must send.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM."""
    args = parse_args(argv)
    fake = FakePlane(api_key=args.api_key, workspace=DEMO_WORKSPACE)
    seeded: dict[str, Any] = seed_demo(fake) if args.seed == "demo" else {}
    fake.start(port=args.port, host=args.host)
    info = {"url": fake.url, "api_key": fake.api_key, "workspace": fake.workspace, **seeded}
    print(json.dumps(info), flush=True)
    project = seeded.get("project_id", "<project id>")
    print(
        f"Fake Plane at {fake.url} (workspace {fake.workspace!r}). Point Junction at it:\n"
        f"  curl -X POST localhost:8000/api/planning/config -H 'Content-Type: application/json' "
        f'-d \'{{"planning_api_url": "{fake.url}", "planning_api_key": "{fake.api_key}", '
        f'"planning_workspace_slug": "{fake.workspace}"}}\'\n'
        f"  then set planning_project_id={project} for your project. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    fake.release.set()
    fake.stop()
    return 0
