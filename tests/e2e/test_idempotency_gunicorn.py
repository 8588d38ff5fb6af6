"""End to end: 20 concurrent requests with one Idempotency-Key to two real gunicorn workers.

Exactly one of them executes (one project row); every other one gets either the replayed 201
or a 409 "still in flight", and a 409 retried afterwards gets the replayed 201. Runs on SQLite,
or on PostgreSQL when ``JUNCTION_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.support import Gunicorn, fresh_database, migrate_database, wait_until

pytestmark = pytest.mark.e2e

CONCURRENCY = 20


def test_one_key_many_concurrent_requests_execute_once(tmp_path: Path):
    instance, checkout = tmp_path / "instance", tmp_path / "checkout"
    instance.mkdir()
    checkout.mkdir()
    with fresh_database(tmp_path) as url:
        migrate_database(url, instance)
        env = {
            "JUNCTION_DATABASE_URL": url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
        }
        with Gunicorn(env, workers=2, threads=4) as server:
            server.start(tmp_path / "gunicorn.log")
            assert len(server.worker_pids()) == 2

            key = str(uuid.uuid4())
            body = {"name": "idem-e2e", "path": str(checkout)}
            # Release every request at once: each thread opens its own connection, so the
            # arbiter's listening socket spreads them over both workers.
            barrier = threading.Barrier(CONCURRENCY)

            def send(_: int) -> requests.Response:
                barrier.wait(10)
                return requests.post(
                    server.url + "/api/projects",
                    json=body,
                    headers={"Idempotency-Key": key},
                    timeout=30,
                )

            with ThreadPoolExecutor(CONCURRENCY) as pool:
                responses = list(pool.map(send, range(CONCURRENCY)))

            statuses = sorted(r.status_code for r in responses)
            assert set(statuses) <= {201, 409}, [(r.status_code, r.text) for r in responses]
            created = [r for r in responses if r.status_code == 201]
            executed = [r for r in created if "Idempotent-Replayed" not in r.headers]
            assert len(executed) == 1, statuses
            original = executed[0]
            for response in created:
                assert response.content == original.content
            for response in responses:
                if response.status_code == 409:
                    problem = response.json()
                    assert problem["code"] == "IDEMPOTENCY_IN_FLIGHT"
                    assert problem["retryable"] is True
                    assert response.headers["Retry-After"]
                else:
                    assert response.headers["Content-Type"] == "application/json"

            # A retry of the same request now always gets the stored result.
            def replayed() -> requests.Response | None:
                response = requests.post(
                    server.url + "/api/projects",
                    json=body,
                    headers={"Idempotency-Key": key},
                    timeout=10,
                )
                return response if response.status_code == 201 else None

            retry = wait_until(replayed, timeout=10, what="the replayed 201")
            assert retry.headers["Idempotent-Replayed"] == "true"
            assert retry.content == original.content

            # Reusing the key for another request is refused, whichever worker answers.
            other = requests.post(
                server.url + "/api/projects",
                json={**body, "name": "idem-e2e-2"},
                headers={"Idempotency-Key": key},
                timeout=10,
            )
            assert other.status_code == 422
            assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as connection:
                names = connection.execute(sa.text("SELECT name FROM projects")).scalars().all()
                keys = connection.execute(
                    sa.text("SELECT state, response_status FROM idempotency_keys")
                ).all()
        finally:
            engine.dispose()
        assert names == ["idem-e2e"]
        assert [tuple(row) for row in keys] == [("completed", 201)]
