"""Plane calls and time of the planning plugin's two imports, against the fake Plane.

1. **Cycle import** — a 500-item cycle, served by the fake Plane with Plane's real sliding
   window (60 requests/minute per key) and imported through ``POST /api/planning/import-cycle``
   with the client's real budget (60/minute: key 6 + 52, imports 5 + 45). Prints the calls
   used against the minimum possible (one existence check + one call per page of 100; a client
   calling once per work item would need 500 more) and the time taken.

2. **MarQed import** — a tree of 3 epics, 10 features, 20 stories and 30 tasks through
   ``POST /api/planning/marqed-import``. Prints the calls used against the seed's estimate
   (~68 calls, ~102 s at its fixed 1.5 s interval) and the baseline the 60/minute budget allows
   (calls at 50/minute, the import share). So the bench stays short, this part runs on a
   clock sped up ``--scale`` times (default 10): the fake's window is 60 requests per 6 s and
   every client budget keeps its burst but refills 10 times faster -- the same limits, in a
   tenth of the time. It reports the measured time and the equivalent at Plane's real rate
   (measured x scale). ``--scale 1`` runs it at the real rate (about 85 s).

Everything is in this process on loopback: a SQLite database in a temporary folder, the app's
test client, the fake Plane from ``tests/fakes``. Nothing is slept on purpose: waits are the
client's rate limiting.

    .venv/bin/python bench/planning_import.py [--items 500] [--scale 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.http.ratelimit import RateLimit  # noqa: E402
from app.migrate import upgrade_all  # noqa: E402
from plugins.planning.client import PlaneClient, budgets, build_http  # noqa: E402
from tests.fakes.marqed_tree import make_tree  # noqa: E402
from tests.fakes.plane import FakePlane  # noqa: E402

SEED_CALLS, SEED_SECONDS = 68, 102.0
IMPORT_SHARE_PER_MINUTE = 50  # of Plane's 60: what an import may use


def make_app(folder: Path, fake: FakePlane, plane_project: str, speedup: int = 1) -> Any:
    """A migrated app configured for the fake Plane; returns its test client.

    ``speedup`` > 1 makes the clients' budgets refill that many times faster (bursts kept).
    """
    instance = folder / "instance"
    app = create_app(
        {
            "JUNCTION_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
        },
        instance_path=instance,
    )
    with app.app_context():
        upgrade_all()
    if speedup > 1:
        key, buckets = budgets(60)

        def fast(limit: RateLimit) -> RateLimit:
            return RateLimit(rate_per_minute=limit.rate_per_minute * speedup, burst=limit.burst)

        options = {"rate_limit": fast(key), "buckets": {n: fast(b) for n, b in buckets.items()}}
        app.extensions.setdefault("planning", {})["client_factory"] = lambda cfg: PlaneClient(
            cfg, http=build_http(cfg, **options)
        )
    client = app.test_client()
    checkout = folder / "checkout"
    checkout.mkdir(exist_ok=True)
    client.post("/api/projects", json={"name": "bench", "path": str(checkout)})
    client.post(
        "/api/planning/config",
        json={
            "planning_api_url": fake.url,
            "planning_api_key": fake.api_key,
            "planning_workspace_slug": fake.workspace,
        },
    )
    client.post(
        "/api/planning/config",
        json={"project_name": "bench", "planning_project_id": plane_project},
    )
    return client


def cycle_import(items: int, folder: Path) -> dict[str, Any]:
    """Part 1: a cycle of ``items`` work items at Plane's real 60/minute."""
    with FakePlane(rate_limit=60, window=60.0) as fake:
        project = fake.add_project()
        now = dt.datetime.now(dt.UTC)
        cycle = fake.add_cycle(
            project, "Bench sprint", now - dt.timedelta(days=1), now + dt.timedelta(days=6)
        )
        backlog = fake.state_id(project, "unstarted")
        for index in range(items):
            fake.add_to_cycle(cycle, fake.add_issue(project, f"Item {index}", state=backlog))
        client = make_app(folder, fake, project)
        fake.calls.clear()
        started = time.perf_counter()
        response = client.post(
            "/api/planning/import-cycle", json={"cycle_id": cycle, "project_name": "bench"}
        )
        elapsed = time.perf_counter() - started
        body = response.get_json()
        if response.status_code != 200 or body["imported"] != items:
            raise SystemExit(f"cycle import failed: {response.status_code} {body}")
        calls = len(fake.calls)
    minimum = 1 + math.ceil(items / 100)
    per_item = 1 + items  # a client fetching the list once and each work item on its own
    return {
        "items": items,
        "calls": calls,
        "minimum_calls": minimum,
        "per_item_client_calls": per_item,
        "seconds": round(elapsed, 3),
        "per_item_client_seconds_at_50_per_minute": round(
            per_item / IMPORT_SHARE_PER_MINUTE * 60, 1
        ),
    }


def marqed(folder: Path, scale: int) -> dict[str, Any]:
    """Part 2: the seed's typical MarQed tree, budgets scaled by ``scale``."""
    tree = folder / "marqed"
    counts = make_tree(tree, epics=3, features=10, stories=20, tasks=30)
    with FakePlane(rate_limit=60, window=60.0 / scale) as fake:
        project = fake.add_project()
        now = dt.datetime.now(dt.UTC)
        cycle = fake.add_cycle(
            project, "Bench sprint", now - dt.timedelta(days=1), now + dt.timedelta(days=6)
        )
        client = make_app(folder, fake, project, speedup=scale)
        fake.calls.clear()
        started = time.perf_counter()
        response = client.post(
            "/api/planning/marqed-import?wait=300",
            json={"marqed_dir": str(tree), "cycle_id": cycle, "project_name": "bench"},
        )
        elapsed = time.perf_counter() - started
        body = response.get_json()
        if response.status_code != 200 or body["errors"]:
            raise SystemExit(f"MarQed import failed: {response.status_code} {body}")
        calls = len(fake.calls)
        refused = sum(1 for call in fake.calls if call.status == 429)
    entities = sum(counts.values())
    baseline = calls / IMPORT_SHARE_PER_MINUTE * 60
    return {
        "entities": entities,
        "created": body["created"],
        "calls": calls,
        "plane_429s": refused,
        "seed_calls": SEED_CALLS,
        "scale": scale,
        "measured_seconds": round(elapsed, 2),
        "seconds_at_60_per_minute": round(elapsed * scale, 1),
        "seed_seconds": SEED_SECONDS,
        "budget_baseline_seconds": round(baseline, 1),
    }


def main() -> None:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        cycle = cycle_import(args.items, Path(one))
        tree = marqed(Path(two), args.scale)

    print(f"Cycle import: {cycle['items']} work items, Plane at 60 requests/minute")
    print(
        f"  Plane calls   {cycle['calls']:>5}   minimum possible {cycle['minimum_calls']} "
        f"(1 cycle check + 1 per page of 100)   ratio {cycle['calls'] / cycle['minimum_calls']:.2f}"
    )
    print(
        f"  time          {cycle['seconds']:>7.3f} s   a per-item client: "
        f"{cycle['per_item_client_calls']} calls = "
        f"{cycle['per_item_client_seconds_at_50_per_minute']} s "
        f"at 50/minute ({cycle['per_item_client_calls'] / cycle['calls']:.0f}x the calls)"
    )
    print()
    print(
        f"MarQed import: 3 epics, 10 features, 20 stories, 30 tasks ({tree['entities']} "
        f"entities), clock sped up x{tree['scale']}"
    )
    print(
        f"  Plane calls   {tree['calls']:>5}   seed's estimate {tree['seed_calls']}   "
        f"ratio {tree['calls'] / tree['seed_calls']:.2f}   (429s from Plane: {tree['plane_429s']})"
    )
    print(
        f"  time          {tree['measured_seconds']:>7.2f} s measured (x{tree['scale']} clock) "
        f"-> {tree['seconds_at_60_per_minute']} s at Plane's real 60/minute"
    )
    print(
        f"  baseline      {tree['budget_baseline_seconds']:>7.1f} s   ({tree['calls']} calls at "
        f"{IMPORT_SHARE_PER_MINUTE}/minute, the import share of the budget)"
    )
    print(f"  seed          {tree['seed_seconds']:>7.1f} s   (68 calls at a fixed 1.5 s interval)")
    print(
        f"  ratio         {tree['seconds_at_60_per_minute'] / tree['budget_baseline_seconds']:.2f} "
        f"of the budget baseline, {tree['seconds_at_60_per_minute'] / tree['seed_seconds']:.2f} of "
        "the seed's time"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cycle_import": cycle, "marqed_import": tree}, indent=2))


if __name__ == "__main__":
    main()
