"""The PostgreSQL backend runs the shared contract suite (with JUNCTION_TEST_DATABASE_URL), and
refuses, with the reason, to run on SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

from app.testing import fresh_database
from plugins.builds.queue import BackendUnavailable
from plugins.builds.queue_base import QueueOptions
from plugins.builds.testing import QueueBackendContract
from plugins.queue_postgres.backend import PostgresQueue
from plugins.queue_postgres.models import QueueCounter, QueueRow
from plugins.queue_postgres.service import libpq_url, postgres_backend

SERVER_URL = os.environ.get("JUNCTION_TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(
    not SERVER_URL or not SERVER_URL.startswith("postgres"),
    reason="needs JUNCTION_TEST_DATABASE_URL (a PostgreSQL server)",
)


@pytest.fixture(scope="module")
def queue_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own with the queue's tables; its libpq conninfo.

    The sessions commit with ``synchronous_commit = off``: the suite kills consumer processes,
    not the server, and a commit that does not wait for the WAL flush is as atomic and as
    visible as one that does; on this machine's disk it makes 10,000 items take seconds."""
    with fresh_database(tmp_path_factory.mktemp("pg"), SERVER_URL) as url:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            QueueRow.__table__.create(connection)
            QueueCounter.__table__.create(connection)
        engine.dispose()
        yield make_conninfo(libpq_url(url)[1], options="-c synchronous_commit=off")


@pytest.fixture
def empty_queue(queue_database: str) -> str:
    """The module's queue, emptied for this test."""
    with psycopg.connect(queue_database, autocommit=True) as conn:
        conn.execute("TRUNCATE queue_postgres_items, queue_postgres_counters RESTART IDENTITY")
    return queue_database


@pytest.mark.postgres
@needs_postgres
class TestPostgresQueueContract(QueueBackendContract):
    """The contract every backend keeps, on PostgreSQL."""

    @pytest.fixture
    def queue_backend_factory(self, empty_queue: str):
        """Handles on the test database's queue table."""
        return lambda clock: PostgresQueue(empty_queue, clock=clock)

    @pytest.fixture
    def queue_process_spec(self, empty_queue: str) -> dict:
        """How a consumer process opens the same queue."""
        return {
            "factory": "plugins.queue_postgres.backend:PostgresQueue",
            "args": {"conninfo": empty_queue},
        }


@pytest.mark.postgres
@needs_postgres
def test_idle_worker_is_woken_by_notify(empty_queue: str) -> None:
    """``wait`` returns as soon as another handle enqueues (LISTEN/NOTIFY), and times out
    (False) when nothing arrives."""
    import threading

    from plugins.builds.testing import make_item

    waiter, producer = PostgresQueue(empty_queue), PostgresQueue(empty_queue)
    try:
        assert waiter.wait(0.05) is False
        woke: list[bool] = []
        listening = threading.Event()

        def idle() -> None:
            waiter.wait(0.01)  # LISTEN is issued on the first call
            listening.set()
            woke.append(waiter.wait(30))

        thread = threading.Thread(target=idle)
        thread.start()
        assert listening.wait(30)
        producer.enqueue(make_item())
        thread.join(timeout=30)
        assert woke == [True]
        assert waiter.lease("w", 60) is not None
    finally:
        waiter.close()
        producer.close()


def test_sqlite_reports_the_backend_unavailable(tmp_path: Path) -> None:
    """On SQLite the factory refuses with a message naming what to do (a 503 problem)."""
    options = QueueOptions(
        config={"JUNCTION_DATABASE_URL": f"sqlite:///{tmp_path}/j.db"}, instance_path=tmp_path
    )
    with pytest.raises(BackendUnavailable) as raised:
        postgres_backend(options)
    assert "PostgreSQL" in str(raised.value) and "sqlite" in str(raised.value)
    assert raised.value.status == 503
