"""Silent network partitions between real hosts (network namespaces), for real.

Topology (see :mod:`tests.partition.netns`): a ``services`` host running a PostgreSQL cluster and
a redis-server that this module starts itself, a recording external service, and hosts ``a`` and
``b`` each running a Junction process (``python -m tests.partition.probe``: the app with the
scheduler on, so it takes part in the election and runs operation runners). Links are cut with
nftables drop rules, the way real networks fail: no reset, no ICMP. Short settings keep it quick:
election every 0.25 s (fence 2.5 s, server-side silence timeout 7.5 s), 4 s operation leases.

The database URL carries libpq ``options`` (with a space, ``%20``): the election must pass it to
libpq unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.partition.netns import ADDRESSES, Topology, stop_group, unavailable
from tests.partition.services import Recorder, start_postgres, start_redis
from tests.support import ROOT, VENV_BIN, wait_until

pytestmark = pytest.mark.partition

ELECTION_INTERVAL = 0.25  # fence 2.5 s; the server ends a silent election session after 7.5 s
LEASE_SECONDS = 4  # local deadline: 3.2 s after the last renewal
URL_OPTIONS = "?options=-c%20tcp_keepalives_idle%3D12%20-c%20statement_timeout%3D60000"


@dataclass
class Cluster:
    """The running topology and what the tests need to drive it."""

    topo: Topology
    dir: Path
    db_url: str
    redis_url: str
    recorder: Recorder
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, host: str, **extra: str) -> dict[str, str]:
        """The environment of a Junction process on ``host``."""
        instance = self.dir / f"instance-{host}"
        instance.mkdir(exist_ok=True)
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("JUNCTION_")},
            "JUNCTION_DATABASE_URL": self.db_url,
            "JUNCTION_REDIS_URL": self.redis_url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "on",
            "JUNCTION_SCHEDULER_ELECTION_INTERVAL": str(ELECTION_INTERVAL),
            "JUNCTION_OPERATION_LEASE_SECONDS": str(LEASE_SECONDS),
            "JUNCTION_LOG_LEVEL": "warning",
            "PARTITION_HOST": host,
            "PARTITION_DIR": str(self.dir),
            "PARTITION_RECORDER": self.recorder.url,
            **extra,
        }

    def start_node(self, host: str, name: str | None = None, **extra: str) -> None:
        """Start a probe process on ``host`` and wait until its app is up."""
        name = name or host
        ready = self.dir / f"ready-{extra.get('PARTITION_HOST', host)}.txt"
        ready.unlink(missing_ok=True)
        self.nodes[name] = self.topo.start(
            host,
            [sys.executable, "-m", "tests.partition.probe"],
            self.dir / f"{name}.log",
            env=self.env(host, **extra),
            cwd=str(ROOT),
        )
        wait_until(ready.exists, timeout=30, what=f"{name} started")

    def stop_node(self, name: str) -> None:
        """Stop a probe process."""
        stop_group(self.nodes.pop(name))

    def cli(self, host: str, *args: str) -> str:
        """``flask --app tests.partition.wsgi junction ARGS`` on ``host``; its output."""
        done = subprocess.run(
            self.topo.command(
                host, str(VENV_BIN / "flask"), "--app", "tests.partition.wsgi", "junction", *args
            ),
            env=self.env(host, JUNCTION_SCHEDULER="off"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def runs(self, host: str) -> list[float]:
        """Times of the leader job's runs on ``host``."""
        path = self.dir / f"runs-{host}.txt"
        return [float(x) for x in path.read_text().split()] if path.exists() else []

    def log(self, name: str) -> str:
        """What a node wrote to its log."""
        return (self.dir / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = unavailable()
    if reason:
        pytest.skip(f"partition tests: {reason}")
    topo = Topology()
    log_dir = tmp_path_factory.mktemp("partition")
    log_dir.chmod(0o755)
    try:
        topo.build()
        server = start_postgres(topo, log_dir)
        redis_url = start_redis(topo, log_dir)
        recorder = Recorder(topo)
        created = Cluster(topo, log_dir, server + URL_OPTIONS, redis_url, recorder)
        created.cli("a", "db", "upgrade")
        created.start_node("a")
        created.start_node("b")
        yield created
    finally:
        topo.destroy()


def test_leader_takeover_after_a_silent_cut_of_its_host(cluster: Cluster) -> None:
    # One leader, on one of the hosts: only its job runs.
    leader = wait_until(
        lambda: next((h for h in ("a", "b") if len(cluster.runs(h)) >= 10), None),
        timeout=30,
        what="a leader running jobs",
    )
    other = "b" if leader == "a" else "a"
    assert cluster.runs(other) == [], "two hosts ran jobs"

    cut_at = time.time()
    cluster.topo.cut(leader)
    new_first = wait_until(
        lambda: next((t for t in cluster.runs(other) if t > cut_at), None),
        timeout=40,
        what=f"host {other} leading after the cut of {leader}",
    )
    takeover = new_first - cut_at
    old_last = max(cluster.runs(leader))
    print(
        f"\ntakeover {takeover:.1f}s after a silent cut; old leader's last run "
        f"{old_last - cut_at:.1f}s after it"
    )
    assert takeover < 30
    assert old_last < new_first, "the old leader ran a job after the new one started"

    heal_at = time.time()
    cluster.topo.heal(leader)
    # Exactly one leader after the heal: the new one goes on, the old one stays standby.
    wait_until(
        lambda: sum(t > heal_at + 3 for t in cluster.runs(other)) >= 10,
        timeout=20,
        what="runs well after the heal",
    )
    assert [t for t in cluster.runs(leader) if t > cut_at + 3] == []
    assert "lock check failed" in cluster.log(leader) or "lock lost" in cluster.log(leader)


def test_an_operation_cut_from_the_database_stops_at_its_local_deadline(cluster: Cluster) -> None:
    op_id = cluster.cli(
        "a", "operations", "submit", "partprobe.calls", "--params", '{"steps": 2}'
    ).strip()

    def calls_of(op: str) -> list[dict]:
        return [c for c in cluster.recorder.snapshot() if c["op"] == op]

    first = wait_until(
        lambda: len(calls_of(op_id)) >= 5 and calls_of(op_id),
        timeout=30,
        what="the operation calling out",
    )
    owner = first[0]["host"]
    other = "b" if owner == "a" else "a"
    cut_at = time.time()
    cluster.topo.cut(owner, port=5432)  # the owner still reaches everything but the database
    try:
        wait_until(
            lambda: any(c["host"] == other for c in calls_of(op_id)),
            timeout=40,
            what=f"host {other} taking the operation over",
        )
        shown = wait_until(
            lambda: (
                (op := json.loads(cluster.cli(other, "operations", "show", op_id)))["status"]
                == "succeeded"
                and op
            ),
            timeout=60,
            what="the operation finishing",
        )
    finally:
        cluster.topo.heal(owner)
    calls = calls_of(op_id)
    owner_after_cut = [c["at"] for c in calls if c["host"] == owner and c["at"] > cut_at]
    taken_over = min(c["at"] for c in calls if c["host"] == other)
    deadline_bound = cut_at + LEASE_SECONDS * 0.8
    print(
        f"\nold owner called out for {max(owner_after_cut, default=cut_at) - cut_at:.1f}s "
        f"after the cut (local deadline <= {LEASE_SECONDS * 0.8:.1f}s); "
        f"new owner started {taken_over - cut_at:.1f}s after the cut"
    )
    assert owner_after_cut, "the cut landed outside a batch of calls; the test proved nothing"
    assert max(owner_after_cut) <= deadline_bound + 0.3, "a call after the local deadline"
    assert max(owner_after_cut) < taken_over, "both owners called out at once"
    assert shown["attempts"] == 2 and shown["result"] == {"steps": 2}


def test_events_complete_across_a_redis_cut(cluster: Cluster) -> None:
    cluster.start_node(
        "a", "publisher", PARTITION_ROLE="publisher", PARTITION_HOST="pub", JUNCTION_SCHEDULER="off"
    )
    cluster.start_node(
        "b",
        "subscriber",
        PARTITION_ROLE="subscriber",
        PARTITION_HOST="sub",
        JUNCTION_SCHEDULER="off",
    )
    received_path = cluster.dir / "received-sub.txt"

    def received() -> list[dict]:
        if not received_path.exists():
            return []
        return [json.loads(line) for line in received_path.read_text().splitlines()]

    wait_until(lambda: len(received()) >= 20, timeout=20, what="events flowing")
    cut_at = time.time()
    cluster.topo.cut("services", port=6379)  # every Redis link, both hosts
    wait_until(
        lambda: "Redis unavailable" in cluster.log("subscriber"),
        timeout=20,
        what="the subscriber noticing the cut",
    )
    wait_until(
        lambda: sum(e["got"] > time.time() - 1 for e in received()) >= 5,
        timeout=10,
        what="events still arriving by polling",
    )
    heal_at = time.time()
    cluster.topo.heal("services")
    for name in ("subscriber", "publisher"):
        wait_until(
            lambda n=name: "Redis is back" in cluster.log(n),
            timeout=20,
            what=f"the {name} back on Redis",
        )

    def fast_again() -> float | None:
        # Wake-ups carry events again: ten in a row well within the 1 s poll.
        events = [e for e in received() if e["got"] > heal_at]
        for i in range(len(events) - 9):
            if all(x["got"] - x["sent"] < 0.3 for x in events[i : i + 10]):
                return events[i]["got"]
        return None

    fast_since = wait_until(fast_again, timeout=20, what="fast wake-ups after the heal")
    cluster.stop_node("publisher")

    total = cluster.topo.call("services", _count_events, cluster.db_url)
    wait_until(lambda: len(received()) >= total, timeout=20, what="every event delivered")
    numbers = [e["n"] for e in received()]
    assert numbers == sorted(set(numbers)) and len(numbers) == total  # in order, no duplicates
    log = cluster.log("subscriber") + cluster.log("publisher")
    print(
        f"\nRedis cut {heal_at - cut_at:.1f}s; wake-ups back {fast_since - heal_at:.1f}s after "
        f"the heal; {total} events, all delivered in order"
    )
    assert fast_since - heal_at < 10
    cluster.stop_node("subscriber")
    # One line when each process lost Redis and one when it got it back; no warning per retry.
    assert log.count("Redis unavailable") == 2 and log.count("Redis is back") == 2, log


def _count_events(url: str) -> int:
    import psycopg

    with psycopg.connect(url.split("?")[0]) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE channel = 'partprobe:ticks'")
        found = row.fetchone()
        assert found is not None  # count(*) answers one row
        return int(found[0])


def test_idempotency_across_hosts(cluster: Cluster) -> None:
    checkout = cluster.dir / "checkout"
    checkout.mkdir(exist_ok=True)
    servers = {}
    for host in ("a", "b"):
        servers[host] = cluster.topo.start(
            host,
            [
                str(VENV_BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"{ADDRESSES[host]}:8000",
                "--workers",
                "2",
                "--threads",
                "4",
                "wsgi:app",
            ],
            cluster.dir / f"gunicorn-{host}.log",
            env={
                **cluster.env(
                    host,
                    JUNCTION_SCHEDULER="off",
                    JUNCTION_ALLOWED_HOSTS=",".join(ADDRESSES.values()),
                ),
                "JUNCTION_TRUSTED_PROXIES": "",
                "JUNCTION_API_TOKENS": "partition-token",
            },
            cwd=str(ROOT),
        )
    pool = cluster.topo.pool("services", 20)
    import requests

    def ready(host: str) -> bool:
        return requests.get(f"http://{ADDRESSES[host]}:8000/readyz", timeout=2).ok

    for host in ("a", "b"):
        wait_until(
            lambda h=host: pool.submit(ready, h).result(), timeout=30, what=f"gunicorn on {host}"
        )
    key = str(uuid.uuid4())
    barrier = threading.Barrier(20)

    def send(i: int) -> int:
        barrier.wait(10)
        host = "a" if i % 2 else "b"
        return requests.post(
            f"http://{ADDRESSES[host]}:8000/api/projects",
            json={"name": "partition-idem", "path": str(checkout)},
            headers={"Idempotency-Key": key, "Authorization": "Bearer partition-token"},
            timeout=30,
        ).status_code

    statuses = list(pool.map(send, range(20)))
    for server in servers.values():
        stop_group(server)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    projects = cluster.topo.call("services", _count_projects, cluster.db_url)
    assert projects == 1


def _count_projects(url: str) -> int:
    import psycopg

    with psycopg.connect(url.split("?")[0]) as conn:
        row = conn.execute("SELECT count(*) FROM projects WHERE name = 'partition-idem'")
        found = row.fetchone()
        assert found is not None  # count(*) answers one row
        return int(found[0])
