"""Claiming a key atomically, replaying, completing and releasing it."""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from flask import Response
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError

from app.db import db
from app.errors import problem
from app.idempotency.keys import HEADER, REPLAYED_HEADER
from app.idempotency.model import TABLE, policy

log = logging.getLogger("app.idempotency")  # one logger for the package, as before the split

# Only headers that describe the stored representation are replayed. Per-response headers
# (Set-Cookie, X-Request-ID, Date, rate-limit state...) are never stored: a replay must not hand
# one client's cookie to a retry, and the retry gets its own request id.
REPLAYABLE_HEADERS = frozenset(
    {
        "content-type",
        "content-language",
        "content-location",
        "location",
        "etag",
        "last-modified",
        "link",
        "preference-applied",
    }
)
# Responses that are *not* kept, so the same key can be retried (see docs/idempotency.md):
# 400/422 are requests rejected by validation before anything was written (Stripe does not
# save these either), 429 asks the client to come back later.
RELEASED_STATUSES = frozenset({400, 422, 429})

OUTCOMES = Counter(
    "junction_idempotency_requests_total",
    "Requests that carried an Idempotency-Key, by outcome.",
    ["outcome"],
)


@dataclass(frozen=True)
class Claim:
    """This request owns the key (row ``id``) as long as its ``token`` is on the row."""

    id: int
    token: str


@contextlib.contextmanager
def _transaction() -> Iterator[sa.Connection]:
    """A short transaction of the idempotency layer on its own connection.

    On PostgreSQL it commits without waiting for the WAL flush (``synchronous_commit off``):
    the record is visible to every other session at once, and the view's own (synchronous)
    commit flushes the WAL up to and including the claim. What a database crash could lose is a
    completion written in the last few hundred milliseconds; the key then looks in flight
    until its lock expires, the same window as a worker dying before it stores the response.
    It saves one disk flush per claim and per completion (see bench/idempotency_overhead.py).
    """
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
        yield connection


# Statements are built once, with bind parameters, so a request pays for executing them but not
# for constructing and cache-keying new SQLAlchemy expressions (measurable on the hot path).
_bp = sa.bindparam


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    c = TABLE.c
    claim: Any
    if dialect in {"postgresql", "sqlite"}:
        # ON CONFLICT DO NOTHING is the same atomic claim as catching the unique violation,
        # without an error in the PostgreSQL server log for every duplicate.
        from sqlalchemy.dialects import postgresql, sqlite

        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        claim = insert(TABLE).on_conflict_do_nothing(index_elements=["scope", "endpoint", "key"])
    else:
        claim = sa.insert(TABLE)
    return {
        "claim": claim.returning(c.id),
        "find": sa.select(TABLE).where(
            c.scope == _bp("b_scope"), c.endpoint == _bp("b_endpoint"), c.key == _bp("b_key")
        ),
        "drop_expired": sa.delete(TABLE).where(
            c.id == _bp("b_id"), c.expires_at <= _bp("b_now", type_=c.expires_at.type)
        ),
        "take_over": sa.update(TABLE)
        .where(c.id == _bp("b_id"), c.state == "in_flight", c.lock_token == _bp("b_old_token"))
        .values(
            lock_token=_bp("b_token"),
            locked_until=_bp("b_until", type_=c.locked_until.type),
        ),
        "complete": sa.update(TABLE)
        .where(c.id == _bp("b_id"), c.lock_token == _bp("b_token"))
        .values(
            state="completed",
            lock_token=None,
            locked_until=None,
            response_status=_bp("b_status", type_=c.response_status.type),
            response_headers=_bp("b_headers", type_=c.response_headers.type),
            response_body=_bp("b_body", type_=c.response_body.type),
        ),
        "release": sa.delete(TABLE).where(c.id == _bp("b_id"), c.lock_token == _bp("b_token")),
    }


def _sql(connection: sa.Connection, name: str) -> Any:
    return _statements(connection.dialect.name)[name]


def _insert_if_absent(connection: sa.Connection, values: dict[str, Any]) -> int | None:
    """INSERT the claim; the id, or ``None`` when the unique constraint says it is taken."""
    statement = _sql(connection, "claim")
    if connection.dialect.name in {"postgresql", "sqlite"}:
        return cast(int | None, connection.execute(statement, values).scalar_one_or_none())
    try:
        with connection.begin_nested():
            return cast(int, connection.execute(statement, values).scalar_one())
    except IntegrityError:
        return None


def _claim(scope: str, endpoint: str, key: str, fingerprint: str) -> Claim | Response:
    """Own the key, or the response to give instead (replay, 409 in flight, 422 mismatch)."""
    rules = policy()
    lookup = {"b_scope": scope, "b_endpoint": endpoint, "b_key": key}
    for _ in range(5):
        now = rules.clock()
        token = uuid.uuid4().hex
        values = {
            "scope": scope,
            "endpoint": endpoint,
            "key": key,
            "fingerprint": fingerprint,
            "state": "in_flight",
            "lock_token": token,
            "locked_until": now + rules.lock,
            "created_at": now,
            "expires_at": now + rules.ttl,
        }
        with _transaction() as connection:
            claimed = _insert_if_absent(connection, values)
        if claimed is not None:
            return Claim(claimed, token)

        with _transaction() as connection:
            row = connection.execute(_sql(connection, "find"), lookup).one_or_none()
            if row is None:
                continue  # released or cleaned up meanwhile: claim again
            if row.expires_at <= now:
                # Past retention the key is new again (as with Stripe's pruned keys).
                connection.execute(_sql(connection, "drop_expired"), {"b_id": row.id, "b_now": now})
                continue
            if row.fingerprint != fingerprint:
                OUTCOMES.labels("mismatch").inc()
                return problem(
                    422,
                    f"This {HEADER} was already used for a different request (method, path or "
                    "body differ). Use a new key for a new request.",
                    code="IDEMPOTENCY_KEY_REUSED",
                    retryable=False,
                )
            if row.state == "completed":
                OUTCOMES.labels("replayed").inc()
                return _replay(row)
            if row.locked_until is not None and row.locked_until > now:
                OUTCOMES.labels("in_flight").inc()
                wait = max(1, int((row.locked_until - now).total_seconds() + 0.999))
                return problem(
                    409,
                    f"A request with this {HEADER} is still being processed. Retry the same "
                    "request later to receive its result.",
                    code="IDEMPOTENCY_IN_FLIGHT",
                    retryable=True,
                    headers={"Retry-After": str(min(wait, 5))},
                )
            # The owner's lock expired (its worker died, or it overran): take the key over. The
            # compare-and-set on lock_token lets exactly one of several retries win.
            taken = connection.execute(
                _sql(connection, "take_over"),
                {
                    "b_id": row.id,
                    "b_old_token": row.lock_token,
                    "b_token": token,
                    "b_until": now + rules.lock,
                },
            ).rowcount
        if taken == 1:
            log.warning("idempotency key lock expired on %s; executing the request again", endpoint)
            return Claim(row.id, token)
    OUTCOMES.labels("in_flight").inc()
    return problem(
        409,
        f"The {HEADER} is contended; retry the request.",
        code="IDEMPOTENCY_IN_FLIGHT",
        retryable=True,
        headers={"Retry-After": "1"},
    )


def _replay(row: Any) -> Response:
    response = Response(row.response_body or b"", status=row.response_status)
    response.headers.remove("Content-Type")
    for name, value in row.response_headers or []:
        response.headers.add(name, value)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _complete(claim: Claim, response: Response) -> None:
    headers = [[k, v] for k, v in response.headers.items() if k.lower() in REPLAYABLE_HEADERS]
    with _transaction() as connection:
        stored = connection.execute(
            _sql(connection, "complete"),
            {
                "b_id": claim.id,
                "b_token": claim.token,
                "b_status": response.status_code,
                "b_headers": headers,
                "b_body": response.get_data(),
            },
        ).rowcount
    if not stored:
        log.warning("idempotency key was taken over while this request ran; result not stored")


def _release(claim: Claim) -> None:
    with _transaction() as connection:
        connection.execute(_sql(connection, "release"), {"b_id": claim.id, "b_token": claim.token})


def _keeps(status: int, store_server_errors: bool) -> bool:
    if status in RELEASED_STATUSES:
        return False
    return not (status >= 500 and not store_server_errors)
