"""The blackboard on two real gunicorn workers: idempotent publishes under 20 concurrent
requests with one key (one artifact, one cascade), and syncs answered across workers."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.support import Gunicorn, fresh_database, migrate_database, redis_url, wait_until

pytestmark = pytest.mark.e2e

CONCURRENCY = 20


def _burst(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[requests.Response]:
    barrier = threading.Barrier(CONCURRENCY)

    def send(_: int) -> requests.Response:
        barrier.wait(10)
        return requests.post(url, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(send, range(CONCURRENCY)))


def _check_once(responses: list[requests.Response], ok: int) -> requests.Response:
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {ok, 409}, [(r.status_code, r.text) for r in responses]
    executed = [
        r for r in responses if r.status_code == ok and "Idempotent-Replayed" not in r.headers
    ]
    assert len(executed) == 1, statuses
    for response in responses:
        if response.status_code == ok:
            assert response.content == executed[0].content
        else:
            problem = response.json()
            assert problem["code"] == "IDEMPOTENCY_CONFLICT"
            assert problem["reason"] == "IDEMPOTENCY_IN_FLIGHT" and problem["retryable"] is True
    return executed[0]


def test_idempotent_publishes_across_two_workers(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    calls = tmp_path / "calls.log"
    calls.touch()
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_LOG_LEVEL": "warning",
            "BB_CALL_LOG": str(calls),
            "BB_CHAIN_LENGTH": "2",
        }
        if redis_url():
            env["JUNCTION_REDIS_URL"] = str(redis_url())
        with Gunicorn(env, workers=2, threads=8, app="tests.e2e.blackboard_wsgi:app") as server:
            server.start(tmp_path / "gunicorn.log")
            assert len(server.worker_pids()) == 2

            key = {"Idempotency-Key": str(uuid.uuid4())}
            body = {"type": "ping", "payload": {"n": 0}}
            first = _check_once(_burst(server.url + "/api/v1/artifacts", body, key), 202)
            correlation = first.json()["correlation_id"]

            def settled() -> bool:
                status = requests.get(
                    f"{server.url}/api/v1/correlations/{correlation}/status", timeout=10
                ).json()
                return status["state"] == "completed"

            wait_until(settled, timeout=60, what="the published cascade")

            sync_key = {"X-Idempotency-Key": str(uuid.uuid4())}
            answered = _check_once(
                _burst(server.url + "/api/v1/artifacts/sync", body, sync_key), 200
            )
            result = answered.json()
            assert result["completed"] is True
            assert [a["type"] for a in result["artifacts"]] == ["ping", "pong", "ping", "pong"]

            # Different keys: every sync runs its own cascade and waits only for it.
            with ThreadPoolExecutor(8) as pool:
                many = list(
                    pool.map(
                        lambda _: requests.post(
                            server.url + "/api/v1/artifacts/sync", json=body, timeout=60
                        ),
                        range(8),
                    )
                )
            assert all(r.status_code == 200 and r.json()["completed"] for r in many)
            assert len({r.json()["correlation_id"] for r in many}) == 8
            assert all(len(r.json()["artifacts"]) == 4 for r in many)

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as connection:
                roots = connection.execute(
                    sa.text(
                        "SELECT correlation_id, count(*) FROM blackboard_artifacts "
                        "WHERE produced_by = 'external' GROUP BY correlation_id"
                    )
                ).all()
                doubles = connection.execute(
                    sa.text(
                        "SELECT count(*) FROM (SELECT artifact_id, agent FROM "
                        "blackboard_consumptions GROUP BY artifact_id, agent "
                        "HAVING count(*) > 1) AS d"
                    )
                ).scalar()
        finally:
            engine.dispose()
    # 1 (publish) + 1 (sync) + 8 (plain syncs) root artifacts, one per correlation.
    assert len(roots) == 10 and all(count == 1 for _, count in roots)
    assert doubles == 0
