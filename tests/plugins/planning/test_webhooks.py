"""POST /api/planning/webhooks: signatures, payload versions, dedup, limits, auth exemption."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app import operations
from tests.core.security_http import call, serving
from tests.fakes.plane import FakePlane
from tests.plugins.planning.conftest import Planning
from tests.support import wait_until

SECRET = "plane_wh_" + "a" * 32
NEW_SECRET = "plane_wh_" + "b" * 32
URL = "/api/planning/webhooks"


def deliver(
    planning: Planning,
    payload: Any,
    secret: str | None = SECRET,
    header: str = "X-Plane-Signature",
    **kwargs: Any,
) -> Any:
    """POST the payload exactly as Plane sends it (json.dumps defaults, signed raw body, a new
    ``X-Plane-Delivery`` id per attempt)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Plane-Delivery": str(uuid.uuid4()),
        **kwargs.pop("headers", {}),
    }
    if secret is not None:
        headers[header] = FakePlane.sign(body, secret)
    return planning.client.post(URL, data=body, headers=headers, **kwargs)


@pytest.fixture
def active(planning: Planning) -> tuple[Planning, str, str]:
    """Planning with a webhook secret, an active cycle and one work item in it.

    The webhook starts a runner thread for its import; these tests step the operations
    themselves (``run_operations``), so this process gets no runner threads.
    """
    operations.runtime(planning.app).runner_threads = 0
    cycle = planning.cycle("Sprint 5")
    item = planning.item("Webhook item", cycle)
    planning.post("/api/planning/config", {"planning_webhook_secret": SECRET})
    planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    return planning, cycle, item


def issue_payload(
    planning: Planning, item: str, action: str = "updated", version: str = "v1"
) -> dict:
    data = {"id": item, "name": "Webhook item", "project": planning.plane_project}
    return planning.fake.webhook_payload("issue", action, data, version=version)


def test_signed_update_answers_at_once_and_imports_in_an_operation(active: tuple) -> None:
    planning, cycle, item = active
    response = deliver(planning, issue_payload(planning, item))
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "action": "processed"}
    assert planning.fake.calls == []  # no Plane call inside the webhook request
    with planning.app.app_context():
        pending = operations.list_operations({"kind": "planning.import_cycle"}, 10, 0)["items"]
        assert [op.status for op in pending] == ["pending"]
        assert pending[0].params == {"project_name": "demo", "cycle_id": cycle}
    assert planning.run_operations() == 1
    features = planning.get("/api/projects/demo/features").get_json()["items"]
    assert [f["planning_work_item_id"] for f in features] == [item]
    status = planning.get("/api/planning/sync-status?project_name=demo").get_json()
    assert status["webhook_count"] == 1 and status["last_webhook_at"]


def test_the_webhook_starts_the_import_without_a_scheduler(active: tuple) -> None:
    planning, _, item = active
    operations.runtime(planning.app).runner_threads = 2
    assert deliver(planning, issue_payload(planning, item)).get_json()["action"] == "processed"

    def imported() -> bool:
        features = planning.get("/api/projects/demo/features").get_json()["items"]
        return [f["planning_work_item_id"] for f in features] == [item]

    def statuses() -> list[str]:
        with planning.app.app_context():
            found = operations.list_operations({"kind": "planning.import_cycle"}, 10, 0)
            return [op.status for op in found["items"]]

    # The import commits the features, then the runner records the operation as succeeded.
    wait_until(lambda: statuses() == ["succeeded"], timeout=20, what="the operation to finish")
    assert imported()


@pytest.mark.parametrize(
    ("action", "version", "header"),
    [
        ("created", "v1", "X-Plane-Signature"),
        ("create", "v1", "X-Plane-Signature"),  # Plane before v0.20
        ("updated", "v2", "X-Plane-Signature"),  # hosted edition: workitem.updated
        ("updated", "v1", "X-Planning-Signature"),  # the seed's header
    ],
)
def test_payload_versions_and_headers(
    active: tuple, action: str, version: str, header: str
) -> None:
    planning, _, item = active
    payload = issue_payload(planning, item, action, version)
    if version == "v2":
        assert payload["event"] == "workitem.updated"
    response = deliver(planning, payload, header=header)
    assert response.status_code == 200
    assert response.get_json()["action"] == "processed"


def test_bad_or_missing_signature_is_403(active: tuple) -> None:
    planning, _, item = active
    assert (
        deliver(planning, issue_payload(planning, item), secret="plane_wh_wrong").status_code == 403
    )
    missing = deliver(planning, issue_payload(planning, item), secret=None)
    assert missing.status_code == 403
    assert missing.get_json()["code"] == "INVALID_SIGNATURE"
    # A body altered after signing fails too.
    body = json.dumps(issue_payload(planning, item)).encode()
    tampered = planning.client.post(
        URL,
        data=body.replace(b"Webhook item", b"Webhook itex"),
        headers={
            "Content-Type": "application/json",
            "X-Plane-Signature": FakePlane.sign(body, SECRET),
        },
    )
    assert tampered.status_code == 403
    with planning.app.app_context():
        assert operations.list_operations({}, 10, 0)["total"] == 0


def test_two_secrets_during_rotation(active: tuple) -> None:
    planning, _, item = active
    planning.post("/api/planning/config", {"planning_webhook_secret": f"{SECRET},{NEW_SECRET}"})
    old = deliver(planning, issue_payload(planning, item, "created"), secret=SECRET)
    new = deliver(planning, issue_payload(planning, item, "updated"), secret=NEW_SECRET)
    assert (old.status_code, new.status_code) == (200, 200)
    assert (
        deliver(planning, issue_payload(planning, item), secret="plane_wh_" + "c" * 32).status_code
        == 403
    )


def test_same_event_within_five_seconds_is_deduped(active: tuple) -> None:
    planning, _, item = active
    moment = [dt.datetime(2026, 2, 10, 14, 0, tzinfo=dt.UTC)]
    planning.app.extensions["planning"]["clock"] = lambda: moment[0]
    payload = issue_payload(planning, item)
    assert deliver(planning, payload).get_json()["action"] == "processed"
    moment[0] += dt.timedelta(seconds=4)
    # Plane sends one delivery per changed field: the second one is dropped.
    assert deliver(planning, payload).get_json()["action"] == "deduped"
    moment[0] += dt.timedelta(seconds=6)
    assert deliver(planning, payload).get_json()["action"] == "processed"
    with planning.app.app_context():
        # One unfinished import per project and cycle, however many deliveries.
        assert operations.list_operations({"kind": "planning.import_cycle"}, 10, 0)["total"] == 1


def test_no_active_cycle(planning: Planning) -> None:
    planning.post("/api/planning/config", {"planning_webhook_secret": SECRET})
    item = planning.item("x")
    response = deliver(planning, issue_payload(planning, item))
    assert response.get_json() == {"status": "ok", "action": "no_active_cycle"}


def test_cycle_update_of_the_active_cycle_only(active: tuple) -> None:
    planning, cycle, _ = active
    other = planning.cycle("Other")
    data = {"id": other, "project": planning.plane_project}
    assert (
        deliver(planning, planning.fake.webhook_payload("cycle", "updated", data)).get_json()[
            "action"
        ]
        == "no_active_cycle"
    )
    data = {"id": cycle, "project": planning.plane_project}
    assert (
        deliver(planning, planning.fake.webhook_payload("cycle", "updated", data)).get_json()[
            "action"
        ]
        == "processed"
    )


def test_other_events_are_ignored(active: tuple) -> None:
    planning, _, item = active
    payload = planning.fake.webhook_payload("issue", "deleted", {"id": item})
    assert deliver(planning, payload).get_json()["action"] == "ignored"


def test_body_size_limit_and_invalid_payloads(active: tuple) -> None:
    planning, _, item = active
    big = issue_payload(planning, item)
    big["data"]["description_html"] = "x" * (1024 * 1024 + 10)
    assert deliver(planning, big).status_code == 413
    assert deliver(planning, b"not json").status_code == 400
    assert deliver(planning, {"event": "issue"}).status_code == 400
    assert deliver(planning, {"version": "v2", "event": ""}).status_code == 400


def test_webhook_is_exempt_from_token_auth(make_planning: Any) -> None:
    token = "t" * 40
    auth = {"Authorization": f"Bearer {token}"}
    planning = make_planning({"JUNCTION_API_TOKENS": [token]}, headers=auth)
    cycle = planning.cycle("Sprint 5")
    item = planning.item("x", cycle)
    planning.post("/api/planning/config", {"planning_webhook_secret": SECRET}, headers=auth)
    planning.post(
        "/api/planning/config",
        {"project_name": "demo", "planning_active_cycle_id": cycle},
        headers=auth,
    )
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    assert planning.get("/api/planning/config", environ_base=remote).status_code == 401
    assert (
        planning.get("/api/planning/config", environ_base=remote, headers=auth).status_code == 200
    )
    response = deliver(planning, issue_payload(planning, item), environ_base=remote)
    assert response.status_code == 200 and response.get_json()["action"] == "processed"
    bad = deliver(
        planning, issue_payload(planning, item), secret="plane_wh_bad", environ_base=remote
    )
    assert bad.status_code == 403


def test_without_a_secret_only_loopback_may_post(planning: Planning) -> None:
    cycle = planning.cycle("Sprint 5")
    item = planning.item("x", cycle)
    planning.post(
        "/api/planning/config", {"project_name": "demo", "planning_active_cycle_id": cycle}
    )
    assert deliver(planning, issue_payload(planning, item), secret=None).status_code == 200
    remote = deliver(
        planning,
        issue_payload(planning, item, "created"),
        secret=None,
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert remote.status_code == 403
    assert remote.get_json()["code"] == "WEBHOOK_SECRET_REQUIRED"


# -- replays and long ids, over real HTTP ---------------------------------------------------------


def signed_delivery(payload: dict, delivery: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one Plane delivery, ready to be sent (or replayed) verbatim."""
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "X-Plane-Delivery": delivery or str(uuid.uuid4()),
        "X-Plane-Signature": FakePlane.sign(body, SECRET),
    }


def post_raw(port: int, body: bytes, headers: dict[str, str]) -> dict:
    reply = call(port, "POST", URL, headers=headers, body=body)
    assert reply.status == 200, reply.body
    return reply.json()


def webhook_count(port: int) -> int:
    reply = call(port, "GET", "/api/planning/sync-status?project_name=demo")
    return reply.json()["webhook_count"]


def test_a_replayed_delivery_is_not_processed_again(active: tuple) -> None:
    planning, _, item = active
    planning.app.extensions["planning"]["clock"] = planning.clock.now
    body, headers = signed_delivery(issue_payload(planning, item))
    with serving(planning.app) as port:
        assert post_raw(port, body, headers)["action"] == "processed"
        planning.clock.advance(6)  # past the 5 s burst window
        assert post_raw(port, body, headers) == {"status": "ok", "action": "deduped"}
        assert webhook_count(port) == 1
        planning.clock.advance(23 * 3600)
        assert post_raw(port, body, headers)["action"] == "deduped"  # still within 24 h
        # The same change with a new delivery id (a new event from Plane) is processed.
        fresh = {**headers, "X-Plane-Delivery": str(uuid.uuid4())}
        assert post_raw(port, body, fresh)["action"] == "processed"
        assert webhook_count(port) == 2
    with planning.app.app_context():
        from app.db import db
        from plugins.planning import webhooks
        from plugins.planning.models import WebhookDelivery

        planning.clock.advance(2 * 3600)  # the first delivery is now 25 h old
        assert webhooks.prune(planning.clock.now(), force=True) >= 1
        left = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery))
        assert left == 1  # the fresh delivery of 23 h ago stays


def test_long_object_ids_are_neither_confused_nor_deduplicated_forever(active: tuple) -> None:
    planning, _, _ = active
    planning.app.extensions["planning"]["clock"] = planning.clock.now
    prefix = "x" * 250
    first, second = prefix + "-first", prefix + "-second"

    def payload(object_id: str) -> dict:
        data = {"id": object_id, "name": "Long id", "project": planning.plane_project}
        return planning.fake.webhook_payload("issue", "updated", data)

    with serving(planning.app) as port:
        assert post_raw(port, *signed_delivery(payload(first)))["action"] == "processed"
        # A different id with the same first 250 characters, a second later: not a duplicate.
        planning.clock.advance(1)
        assert post_raw(port, *signed_delivery(payload(second)))["action"] == "processed"
        # Within the burst window the same long id is deduplicated, after it processed again.
        assert post_raw(port, *signed_delivery(payload(first)))["action"] == "deduped"
        planning.clock.advance(6)
        assert post_raw(port, *signed_delivery(payload(first)))["action"] == "processed"
        assert webhook_count(port) == 3
