"""The record state machine alone: replaying from the committed offset gives every pending item
the state a replay from offset 0 gives (random histories, duplicates, nacks and expiries)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from plugins.queue_kafka.journal import PartitionState

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free


def _history(rng: random.Random, length: int) -> list[dict]:
    """A random log as several racing handles would write it (stale tokens included)."""
    records: list[dict] = []
    tokens: dict[str, list[str]] = {}
    ids: list[str] = []
    now = 0.0
    for _ in range(length):
        now += rng.random()
        op = rng.choice(["put", "put", "lease", "lease", "renew", "ack", "nack", "sync"])
        if op == "put" or not ids:
            item_id = uuid.uuid4().hex
            ids.append(item_id)
            item: dict[str, Any] = {
                "id": item_id,
                "package": f"p{rng.randrange(12)}",
                "version": "1",
            }
            item.update(enqueued_at=now, available_at=now)
            records.append({"op": "put", "item": item})
        elif op == "lease":
            token = uuid.uuid4().hex
            item_id = rng.choice(ids[-15:])
            tokens.setdefault(item_id, []).append(token)
            until = now + rng.choice([0.5, 3, 50])
            record = {"op": "lease", "id": item_id, "token": token, "now": now, "until": until}
            if rng.random() < 0.3:
                record["held"] = True  # a prefetched lease, not handed out yet
            records.append(record)
        elif op == "renew":  # a prefetched lease handed out: a new token for the holder's
            item_id = rng.choice(ids[-15:])
            token = uuid.uuid4().hex
            held = rng.choice(tokens.get(item_id) or ["none"])
            tokens.setdefault(item_id, []).append(token)
            records.append(
                {
                    "op": "lease",
                    "id": item_id,
                    "token": token,
                    "renew": held,
                    "now": now,
                    "until": now + rng.choice([3, 50]),
                }
            )
        elif op in ("ack", "nack"):
            item_id = rng.choice(ids[-15:])
            token = rng.choice(tokens.get(item_id) or ["none"])
            record = {"op": op, "id": item_id, "token": token, "now": now}
            if op == "nack":
                record["available_at"] = now + rng.choice([0, 2])
            records.append(record)
        else:
            records.append({"op": "sync"})
    return records


def _view(state: PartitionState) -> dict:
    return {
        i: (e.offset, e.token, e.item.leased_until, e.item.available_at, e.item.attempts)
        for i, e in state.entries.items()
    }


@pytest.mark.parametrize("seed", range(40))
def test_replay_from_the_commit_offset_agrees(seed: int) -> None:
    """At every tenth record, a handle replaying from the commit offset reaches the same
    pending items, leases and tokens, and the commit offset never moves backwards."""
    rng = random.Random(seed)
    records = _history(rng, 400)
    full = PartitionState()
    last_commit = 0
    for offset, record in enumerate(records):
        full.apply(offset, record)
        if offset % 10:
            continue
        commit = full.commit_offset()
        assert last_commit <= commit <= offset + 1
        last_commit = commit
        partial = PartitionState(position=commit)
        for later in range(commit, offset + 1):
            partial.apply(later, records[later])
        assert _view(partial) == _view(full)
        assert commit <= min((e.offset for e in full.entries.values()), default=offset + 1)


def _brute_force(state: PartitionState, now: float, limit: int) -> list[str]:
    ready = [
        e
        for e in state.entries.values()
        if e.item.available_at <= now
        and (e.item.leased_until is None or e.item.leased_until <= now)
    ]
    ready.sort(key=lambda e: (e.item.available_at, e.item.enqueued_at, e.offset))
    return [e.item.id for e in ready[:limit]]


@pytest.mark.parametrize("seed", range(40))
def test_candidates_are_the_oldest_available_items(seed: int) -> None:
    """Between records, at clock readings before, at and after the log's own (leases held,
    renewed, ending, acked, nacked with a delay), ``candidates`` returns exactly the oldest
    available items a full scan finds."""
    rng = random.Random(seed)
    records = _history(rng, 400)
    state = PartitionState()
    for offset, record in enumerate(records):
        state.apply(offset, record)
        if rng.random() < 0.5:
            continue
        base = float(record.get("now", offset * 0.5))
        for _ in range(3):
            now = base + rng.choice([-5.0, -0.5, 0.0, 0.7, 4.0, 60.0])
            limit = rng.choice([0, 1, 1, 2, 16])
            found = [e.item.id for e in state.candidates(now, limit)]
            assert found == _brute_force(state, now, limit)
