"""The event log: publish, ordering, replay, retention, notifiers and dropped-event reporting."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app import events
from app.db import db, utcnow
from tests.support import pg_server_url, wait_until


def _channel() -> str:
    return f"test:{uuid.uuid4().hex[:8]}"


def _quiet(app: Any, poll: float = 60.0) -> Any:
    """Make the safety-net poll slow, so a prompt delivery proves the notifier woke us."""
    app.config["JUNCTION_EVENTS_POLL_SECONDS"] = poll
    return app


def _collect(sub: events.Subscription, count: int, timeout: float = 10.0) -> list[dict]:
    got: list[dict] = []

    def enough() -> bool:
        got.extend(sub.get(timeout=0.2))
        return len(got) >= count

    wait_until(enough, timeout=timeout, interval=0, what=f"{count} items")
    return got


def _go_live(sub: events.Subscription) -> None:
    wait_until(lambda: sub.get(timeout=0) == [] and sub.live, what="subscription live")


def test_publish_returns_increasing_ids_and_the_log_keeps_them(app, client):
    channel = _channel()
    with app.app_context():
        ids = [events.publish(channel, "thing.made", {"n": n}, project="p1") for n in range(3)]
        events.publish(_channel(), "other", {})
    assert ids == sorted(ids) and len(set(ids)) == 3

    body = client.get(f"/api/events?channel={channel}").get_json()
    assert [e["id"] for e in body["items"]] == ids
    assert body["items"][0] == {
        "id": ids[0],
        "channel": channel,
        "type": "thing.made",
        "data": {"n": 0},
        "project": "p1",
        "created_at": body["items"][0]["created_at"],
    }
    assert body["total"] == 3 and body["last_id"] == ids[-1]
    assert body["head_id"] > ids[-1]

    page = client.get(f"/api/events?channel={channel}&after={ids[0]}&limit=1").get_json()
    assert [e["id"] for e in page["items"]] == [ids[1]]
    assert page["total"] == 2 and page["last_id"] == ids[1]


def test_events_api_validates_its_query(client):
    assert client.get("/api/events").status_code == 422
    response = client.get("/api/events?channel=bad%20name")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "channel"
    assert client.get("/api/events?channel=a&after=-1").status_code == 422


def test_openapi_documents_the_events_endpoints(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "/api/events" in paths
    stream = paths["/api/events/stream"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream


def test_domain_changes_are_published_on_the_projects_channel(client, project_dir):
    response = client.post("/api/projects", json={"name": "alpha", "path": str(project_dir)})
    assert response.status_code == 201
    client.patch("/api/projects/alpha", json={"description": "changed"})
    items = client.get("/api/events?channel=projects").get_json()["items"]
    assert [e["type"] for e in items[-2:]] == ["project.created", "project.updated"]
    assert items[-1]["data"]["description"] == "changed"


def test_replay_after_an_id_then_live_in_order(app):
    channel = _channel()
    with app.app_context():
        ids = [events.publish(channel, "e", {"n": n}) for n in range(5)]
        with events.subscribe([channel], after=ids[1]) as sub:
            replayed = _collect(sub, 3)
            assert [e["id"] for e in replayed] == ids[2:]
            _go_live(sub)
            later = events.publish(channel, "e", {"n": 5})
            assert [e["id"] for e in _collect(sub, 1)] == [later]


def test_subscription_from_now_skips_history_and_other_channels(app):
    channel = _channel()
    with app.app_context():
        events.publish(channel, "old", {})
        with events.subscribe([channel]) as sub:
            _go_live(sub)
            events.publish(_channel(), "elsewhere", {})
            new = events.publish(channel, "new", {})
            got = _collect(sub, 1)
    assert [(e["id"], e["type"]) for e in got] == [(new, "new")]


def test_concurrent_publishers_are_seen_complete_and_in_id_order(app):
    """Ids must become visible in increasing order (the append lock), or a live reader that
    advanced past an id would miss a smaller one committed later."""
    channels = [_channel() for _ in range(4)]
    per_thread = 40
    errors: list[BaseException] = []

    def publisher(channel: str) -> None:
        try:
            with app.app_context():
                for n in range(per_thread):
                    events.publish(channel, "e", {"n": n})
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with app.app_context(), events.subscribe(channels) as sub:
        _go_live(sub)
        threads = [threading.Thread(target=publisher, args=(c,)) for c in channels]
        for thread in threads:
            thread.start()
        got = _collect(sub, per_thread * len(channels), timeout=60)
        for thread in threads:
            thread.join()
    assert not errors
    ids = [e["id"] for e in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == per_thread * len(channels)


def test_memory_notifier_wakes_a_live_subscriber(make_app):
    app = _quiet(make_app({"JUNCTION_EVENTS_NOTIFIER": "memory"}))
    channel = _channel()
    with app.app_context(), events.subscribe([channel]) as sub:
        _go_live(sub)
        # The dispatcher sleeps 60 s between polls: only the notifier can deliver this in time.
        event_id = events.publish(channel, "ping", {})
        assert [e["id"] for e in _collect(sub, 1, timeout=5)] == [event_id]
    assert events.get_hub(app).kind == "memory"


def test_polling_delivers_between_apps_without_a_shared_notifier(make_app):
    """Two apps on one database with in-process notifiers: only the log connects them."""
    publisher = make_app({"JUNCTION_EVENTS_NOTIFIER": "memory"})
    reader = _quiet(make_app({"JUNCTION_EVENTS_NOTIFIER": "memory"}), poll=0.1)
    channel = _channel()
    with reader.app_context(), events.subscribe([channel]) as sub:
        _go_live(sub)
        with publisher.app_context():
            event_id = events.publish(channel, "from-elsewhere", {})
        assert [e["id"] for e in _collect(sub, 1, timeout=5)] == [event_id]


def test_local_notifier_carries_wakeups_between_app_instances(make_app):
    """Two apps on one database (as two gunicorn workers on SQLite): the reader's poll is a
    minute, so only the publisher's datagram can deliver the event in time."""
    publisher, reader = [_quiet(make_app({"JUNCTION_EVENTS_NOTIFIER": "local"})) for _ in range(2)]
    assert reader.config["SQLALCHEMY_DATABASE_URI"] == publisher.config["SQLALCHEMY_DATABASE_URI"]
    channel = _channel()
    with reader.app_context(), events.subscribe([channel]) as sub:
        _go_live(sub)
        hub = events.get_hub(reader)
        wait_until(lambda: hub._local_socket is not None, what="the reader's socket")
        with publisher.app_context():
            event_id = events.publish(channel, "over-a-socket", {"x": 1})
        assert [e["id"] for e in _collect(sub, 1, timeout=5)] == [event_id]
    assert hub.kind == "local"


def test_local_notifier_removes_the_socket_of_a_process_that_died(tmp_path):
    import socket

    from app.events import notifiers

    dead = tmp_path / "123-dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(dead))  # bound, then closed: nobody receives on it any more
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as alive:
        alive.bind(str(tmp_path / "456-alive.sock"))
        notifiers.local_notify(tmp_path, "7 projects", own=None)
        assert alive.recv(100) == b"7 projects"
    assert not dead.exists()


def test_auto_picks_the_local_notifier_on_sqlite(make_app):
    app = make_app()
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the test database is PostgreSQL: auto picks NOTIFY there")
    if app.config.get("JUNCTION_REDIS_URL"):
        pytest.skip("JUNCTION_REDIS_URL is set: auto picks Redis")
    assert events.notifier_kind(app) == "local"


def test_redis_notifier_carries_wakeups_between_app_instances(make_app, redis_server_url):
    import redis

    redis_channel = f"junction-test:{uuid.uuid4().hex}"
    overrides = {"JUNCTION_EVENTS_NOTIFIER": "redis", "JUNCTION_REDIS_URL": redis_server_url}
    apps = [_quiet(make_app(overrides)) for _ in range(2)]
    for app in apps:
        app.config["JUNCTION_EVENTS_REDIS_CHANNEL"] = redis_channel
    publisher, reader = apps
    channel = _channel()
    client = redis.Redis.from_url(redis_server_url)
    try:
        with reader.app_context(), events.subscribe([channel]) as sub:
            _go_live(sub)
            wait_until(
                lambda: client.pubsub_numsub(redis_channel)[0][1] >= 1,
                what="the reader's Redis listener",
            )
            with publisher.app_context():
                event_id = events.publish(channel, "over-redis", {"x": 1})
            got = _collect(sub, 1, timeout=5)
        assert [e["id"] for e in got] == [event_id]
        assert events.get_hub(reader).kind == "redis"
    finally:
        client.close()


@pytest.mark.skipif(pg_server_url() is None, reason="needs JUNCTION_TEST_DATABASE_URL")
def test_postgres_notifier_carries_wakeups_between_app_instances(make_app):
    pg_channel = f"junction_test_{uuid.uuid4().hex[:12]}"
    apps = [_quiet(make_app({"JUNCTION_EVENTS_NOTIFIER": "postgres"})) for _ in range(2)]
    for app in apps:
        app.config["JUNCTION_EVENTS_PG_CHANNEL"] = pg_channel
    publisher, reader = apps
    channel = _channel()
    with reader.app_context(), events.subscribe([channel]) as sub:
        _go_live(sub)

        def listening() -> bool:
            with db.engine.connect() as conn:
                return bool(
                    conn.scalar(
                        sa.text("SELECT count(*) FROM pg_stat_activity WHERE query = :q"),
                        {"q": f'LISTEN "{pg_channel}"'},
                    )
                )

        wait_until(listening, what="the reader's LISTEN connection")
        with publisher.app_context():
            event_id = events.publish(channel, "over-notify", {})
        got = _collect(sub, 1, timeout=5)
    assert [e["id"] for e in got] == [event_id]
    assert events.get_hub(reader).kind == "postgres"


def _insert_silently(app: Any, channel: str, count: int) -> list[int]:
    """Append ``count`` events in one transaction and notify nobody, so the dispatcher finds
    them all at once on its next poll."""
    with app.app_context(), db.engine.begin() as conn:
        table = events.Event.__table__
        return [
            conn.execute(
                table.insert()
                .values(channel=channel, type="burst", data={"n": n}, created_at=utcnow())
                .returning(table.c.id)
            ).scalar_one()
            for n in range(count)
        ]


def test_a_full_queue_reports_what_it_dropped_and_replay_recovers_it(app):
    _quiet(app, poll=0.1)
    channel = _channel()
    with app.app_context(), events.subscribe([channel], queue_size=2) as sub:
        _go_live(sub)
        ids = _insert_silently(app, channel, 5)
        wait_until(lambda: sub.dropped == 3, what="three drops")
        got = sub.get(timeout=0)
        assert [e.get("id") for e in got[:2]] == ids[:2]
        assert got[2] == {"type": "dropped", "count": 3, "next_id": ids[2]}
        assert len(got) == 3

        sub.seek(got[2]["next_id"] - 1)
        assert [e["id"] for e in _collect(sub, 3)] == ids[2:]


def test_retention_by_count_keeps_the_newest_per_channel(make_app):
    app = make_app({"JUNCTION_EVENTS_RETENTION_COUNT": 3})
    busy, calm = _channel(), _channel()
    with app.app_context():
        busy_ids = [events.publish(busy, "e", {}) for _ in range(5)]
        calm_ids = [events.publish(calm, "e", {}) for _ in range(2)]
        assert events.prune() == 2
        with db.engine.connect() as conn:
            table = events.Event.__table__
            left = conn.execute(sa.select(table.c.channel, table.c.id).order_by(table.c.id)).all()
    assert [i for c, i in left if c == busy] == busy_ids[2:]
    assert [i for c, i in left if c == calm] == calm_ids


def test_retention_by_age_keeps_the_newest_event_and_ids_keep_growing(make_app):
    app = make_app({"JUNCTION_EVENTS_RETENTION_SECONDS": 60})
    channel = _channel()
    with app.app_context():
        ids = [events.publish(channel, "e", {}) for _ in range(3)]
        now = utcnow()
        assert events.prune(now=now) == 0
        assert events.prune(now=now + dt.timedelta(seconds=61)) == 2
        assert events.head_id() == ids[-1]
        # The newest row survives, so the next id is still greater (no reuse after a prune).
        assert events.publish(channel, "e", {}) > ids[-1]


def test_publish_outside_a_request_and_bad_channel(app):
    with app.app_context():
        with pytest.raises(ValueError):
            events.publish("", "e", {})
        assert events.publish("x" * 255, "e", {}) > 0


def test_close_streams_ends_subscriptions(app):
    with app.app_context():
        sub = events.subscribe([_channel()])
        events.close_streams()
        assert sub.closed and sub.get(timeout=0) == []


def test_a_pushed_event_after_an_unannounced_one_reads_the_gap_from_the_log(make_app):
    """Notifications carry events, but the log decides: an id nobody announced is read from it,
    and a notification whose event is already delivered is ignored."""
    app = _quiet(make_app({"JUNCTION_EVENTS_NOTIFIER": "memory"}))
    channel = _channel()
    with app.app_context(), events.subscribe([channel]) as sub:
        _go_live(sub)
        silent = _insert_silently(app, channel, 2)  # appended, announced to nobody
        announced = events.publish(channel, "pushed", {})
        got = _collect(sub, 3, timeout=5)  # the 60 s poll cannot explain a prompt delivery
        assert [e["id"] for e in got] == [*silent, announced]
        hub = events.get_hub(app)
        with app.app_context():
            replayed = events.read_after([channel], silent[0], 10)[0][-1]
        hub.pushed(replayed)  # a late duplicate notification
        assert sub.get(timeout=0.3) == []


def test_notifications_carry_the_event_unless_it_is_big(app):
    from app.events.log import LogEvent, parse_notification

    channel = _channel()
    with app.app_context():
        small = events.publish(channel, "e", {"x": 1})
        big = events.publish(channel, "e", {"x": "y" * 10_000})
        rows = {e.id: e for e in events.read_after([channel], small - 1, 10)[0]}
    carried = parse_notification(rows[small].notification().encode())
    assert isinstance(carried, LogEvent)
    assert carried.as_dict() == rows[small].as_dict()
    assert parse_notification(rows[big].notification()) == (big, channel)
