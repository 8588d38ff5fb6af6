"""Export 87 tickets with 12 dependencies to the fake Jira with its burst rate limit on:
the seed's fixed 1.5 s pacing against adaptive pacing, in one run.

    .venv/bin/python bench/jira_export.py [--capacity 20] [--per-second 10] [--fixed-scale 0.1]

Each run is a real export (the durable operation, in-process, on a fresh SQLite database)
against the fake Jira on loopback, in real time. The fixed-pacing run is *scaled*: it waits
``1.5 s x --fixed-scale`` between tickets (0.15 s by default) and the figure for 1.5 s is that
wall time plus the waits it skipped, ``86 x 1.5 x (1 - scale)`` seconds (printed as
"extrapolated"); ``--fixed-scale 1`` runs it for real (about 2.5 minutes). Printed per mode:
wall time, calls to Jira, 429 answers seen, and whether the export completed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app, operations, settings
from app.db import db
from app.domain import service as domain
from app.http.ratelimit import local_limiter
from app.migrate import upgrade_all
from plugins.jira import service, sessions
from tests.fakes.jira import FakeJira
from tests.fakes.jira.demo import seed_demo

TICKETS, DEPENDENCIES, SEED_PACING = 87, 12, 1.5


def run(mode: str, pacing: float, capacity: int, per_second: float) -> dict[str, str | float]:
    """One export; its figures."""
    local_limiter().reset()
    fake = FakeJira(rate_limit=(capacity, per_second))
    seed_demo(fake)
    with fake, tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        config = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "error",
            "JUNCTION_OPERATION_RUNNERS": "off",
        }
        app = create_app(config, instance_path=tmp)
        with app.app_context():
            upgrade_all()
            domain.create_project("bench", tmp)
            settings.set_values(
                "jira",
                {
                    "site_url": fake.url,
                    "email": fake.email,
                    "api_token": fake.token,
                    "default_project_key": "DEMO",
                    "pacing": mode,
                    "pacing_seconds": pacing,
                },
            )
            session = sessions.create_session({"name": mode, "project_name": "bench"})
            ids: list[str] = []
            for n in range(TICKETS):
                deps = [ids[n - 1]] if 0 < n <= DEPENDENCIES * 7 and n % 7 == 0 else []
                ids.append(
                    sessions.create_ticket(
                        session,
                        {
                            "title": f"Ticket {n + 1}",
                            "description_html": f"<p>{n}</p>",
                            "dependencies": deps,
                        },
                    ).id
                )
            service.start_export(session.id)
            began = time.monotonic()
            operations.run_pending()
            wall = time.monotonic() - began
            db.session.expire_all()
            row = sessions.get_session(session.id)
            result: dict[str, str | float] = {
                "mode": mode,
                "pacing_s": pacing,
                "wall_s": round(wall, 1),
                "calls": len(fake.calls),
                "http_429": sum(1 for c in fake.calls if c.status == 429),
                "completed": row.status == "completed",
                "issues": len(fake.issues("DEMO")),
                "links": len(fake.blocks()),
                "violations": len(fake.violations),
            }
            db.engine.dispose()
    return result


def main() -> int:
    """Run both modes and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=20, help="fake burst capacity")
    parser.add_argument("--per-second", type=float, default=10.0, help="fake refill per second")
    parser.add_argument("--fixed-scale", type=float, default=0.1, help="scale of the 1.5 s wait")
    args = parser.parse_args()
    scale = max(0.0, min(1.0, args.fixed_scale))
    print(
        f"fake Jira rate limit: burst {args.capacity}, {args.per_second}/s; "
        f"{TICKETS} tickets, {DEPENDENCIES} dependencies"
    )
    fixed = run("fixed", SEED_PACING * scale, args.capacity, args.per_second)
    skipped = (TICKETS - 1) * SEED_PACING * (1 - scale)
    fixed["extrapolated_wall_s_at_1.5s"] = round(float(fixed["wall_s"]) + skipped, 1)
    adaptive = run("adaptive", 0.0, args.capacity, args.per_second)
    for result in (fixed, adaptive):
        print("  " + ", ".join(f"{k}={v}" for k, v in result.items()))
    baseline = float(fixed["extrapolated_wall_s_at_1.5s"])
    print(
        f"adaptive / fixed(1.5 s) wall time: {float(adaptive['wall_s']) / baseline:.2f} "
        f"({adaptive['wall_s']} s vs {baseline} s)"
    )
    ok = all(r["completed"] and r["violations"] == 0 for r in (fixed, adaptive))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
