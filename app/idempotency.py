"""``Idempotency-Key`` support for POST/PATCH endpoints (draft-ietf-httpapi-idempotency-key).

Put :func:`idempotent` directly under the route decorator::

    @blp.post("")
    @idempotent
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, ProjectSchema)
    def create_project(data): ...

A request carrying ``Idempotency-Key`` (or ``X-Idempotency-Key``) claims the key with an
``INSERT`` that hits a unique constraint, so exactly one request per key executes, across
threads, gunicorn workers and hosts. Later requests with the same key get the stored response
again (``Idempotent-Replayed: true``), 409 while the first is still running, or 422 when their
request differs. Keys are scoped to the calling token and the endpoint and kept
``JUNCTION_IDEMPOTENCY_TTL`` seconds. The policy is published in ``docs/idempotency.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import Headers

from app import scheduler
from app.db import UTCDateTime, db, utcnow
from app.errors import problem
from app.state import junction_state

__all__ = [
    "IdempotencyKey",
    "IdempotencyPolicy",
    "InvalidKey",
    "cleanup_expired",
    "idempotent",
    "init_app",
    "parse_key",
    "request_fingerprint",
]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
LEGACY_HEADER = "X-Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
DEFAULT_LOCK_SECONDS = 60
CLEANUP_INTERVAL_SECONDS = 900
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


# -- model --------------------------------------------------------------------------------------


class IdempotencyKey(db.Model):
    """One claimed key: in flight (with a lock expiry) or completed (with the stored response)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint(
            "scope", "endpoint", "key", name="uq_idempotency_keys_scope_endpoint_key"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who sent it: "token:<hash>" from app.auth, "loopback" or "anonymous".
    scope: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    endpoint: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY_LENGTH), nullable=False)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # in_flight | completed
    lock_token: Mapped[str | None] = mapped_column(sa.String(32))
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    response_status: Mapped[int | None] = mapped_column(sa.Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(sa.JSON)
    response_body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


TABLE: sa.Table = IdempotencyKey.__table__  # type: ignore[assignment]


# -- policy -------------------------------------------------------------------------------------


@dataclass
class IdempotencyPolicy:
    """Per-app settings of the idempotency layer; tests replace ``clock``."""

    ttl: dt.timedelta = dt.timedelta(seconds=86400)
    lock: dt.timedelta = dt.timedelta(seconds=DEFAULT_LOCK_SECONDS)
    clock: Callable[[], dt.datetime] = field(default=utcnow)


def policy() -> IdempotencyPolicy:
    """The current app's policy (set by :func:`init_app` from ``JUNCTION_IDEMPOTENCY_TTL``)."""
    found = junction_state().idempotency
    assert found is not None, "create_app() sets the idempotency policy"
    return found


# -- key and fingerprint ------------------------------------------------------------------------


class InvalidKey(ValueError):
    """The ``Idempotency-Key`` header is malformed; the message says how."""


def parse_key(raw: str) -> str:
    """The key in ``raw``: a structured-field string (``"abc"``) or the bare form (``abc``).

    Keys are 1 to 255 printable ASCII characters. The quoted form may hold spaces and the
    escapes ``\\"`` and ``\\\\``; the bare form may not hold spaces.
    """
    text = raw.strip(" \t")
    if len(text) > 2 * MAX_KEY_LENGTH + 2:
        raise InvalidKey(f"the key is longer than {MAX_KEY_LENGTH} characters")
    if text.startswith('"'):
        key = _parse_sf_string(text)
    else:
        if any(not 0x21 <= ord(ch) <= 0x7E for ch in text):
            raise InvalidKey(
                "the key must be printable ASCII without spaces (quote it to include spaces)"
            )
        key = text
    if not key:
        raise InvalidKey("the key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"the key is longer than {MAX_KEY_LENGTH} characters")
    return key


def _parse_sf_string(text: str) -> str:
    # RFC 8941 §4.2.5: sf-string = DQUOTE *chr DQUOTE, chr = unescaped / "\" ( DQUOTE / "\" ).
    out: list[str] = []
    index = 1
    while index < len(text):
        ch = text[index]
        if ch == "\\":
            if index + 1 >= len(text) or text[index + 1] not in '"\\':
                raise InvalidKey('only \\" and \\\\ may be escaped in a quoted key')
            out.append(text[index + 1])
            index += 2
            continue
        if ch == '"':
            if index != len(text) - 1:
                raise InvalidKey("send exactly one key (a single quoted string, no parameters)")
            return "".join(out)
        if not 0x20 <= ord(ch) <= 0x7E:
            raise InvalidKey("the key must be printable ASCII")
        out.append(ch)
        index += 1
    raise InvalidKey("the quoted key has no closing quote")


def _key_from_headers(headers: Headers) -> str | None:
    values = headers.getlist(HEADER) + headers.getlist(LEGACY_HEADER)
    if not values:
        return None
    keys = {parse_key(value) for value in values}
    if len(keys) > 1:
        raise InvalidKey(f"send one key: {HEADER} and {LEGACY_HEADER} disagree")
    return keys.pop()


def request_fingerprint(method: str, path: str, query: list[tuple[str, str]], body: bytes) -> str:
    """SHA-256 of the method, path, sorted query and canonical body of a request.

    A JSON body is canonicalised (sorted keys, no insignificant whitespace), so the same
    document sent with different formatting is the same request; other bodies count as bytes.
    """
    canonical = body
    if body.strip():
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            pass
        else:
            canonical = json.dumps(
                document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8")
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), urlencode(sorted(query)).encode()):
        digest.update(part)
        digest.update(b"\n")
    digest.update(canonical)
    return digest.hexdigest()


# -- claiming -----------------------------------------------------------------------------------


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
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
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
        return connection.execute(statement, values).scalar_one_or_none()
    try:
        with connection.begin_nested():
            return connection.execute(statement, values).scalar_one()
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


# -- the decorator ------------------------------------------------------------------------------


@overload
def idempotent(view: F) -> F: ...


@overload
def idempotent(view: None = None, *, store_server_errors: bool = False) -> Callable[[F], F]: ...


def idempotent(view: Any = None, *, store_server_errors: bool = False) -> Any:
    """Make a POST/PATCH view honour ``Idempotency-Key`` (and ``X-Idempotency-Key``).

    Use bare (``@idempotent``) or with options. ``store_server_errors=True`` also keeps 5xx
    responses (Stripe API v1 behaviour) for views whose side effects are not transactional;
    by default a 5xx releases the key so a retry executes again (see docs/idempotency.md).
    A request without the header runs as usual.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return _run(func, args, kwargs, store_server_errors)

        _document(wrapper)
        wrapper._junction_idempotent = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def _run(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], keep_5xx: bool
) -> Any:
    try:
        key = _key_from_headers(request.headers)
    except InvalidKey as exc:
        OUTCOMES.labels("invalid").inc()
        return problem(
            400,
            f"Invalid {HEADER} header: {exc}. Send 1 to {MAX_KEY_LENGTH} printable ASCII "
            'characters, e.g. a UUID, optionally quoted: Idempotency-Key: "8e03978e-40d5".',
            code="IDEMPOTENCY_KEY_INVALID",
            retryable=False,
        )
    if key is None or request.method not in {"POST", "PATCH"}:
        return func(*args, **kwargs)

    scope = g.get("caller") or "anonymous"
    endpoint = request.endpoint or request.path
    fingerprint = request_fingerprint(
        request.method,
        request.path,
        list(request.args.items(multi=True)),
        request.get_data(cache=True),
    )
    claim = _claim(scope, endpoint, key, fingerprint)
    if isinstance(claim, Response):
        return claim

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        try:
            response = app.make_response(func(*args, **kwargs))
        except Exception as exc:
            # Render the error exactly as Flask would, so it can be stored and replayed too.
            response = app.make_response(app.handle_user_exception(exc))
    except BaseException:
        _safely(_release, claim)
        raise

    if _keeps(response.status_code, keep_5xx) and not response.is_streamed:
        OUTCOMES.labels("executed").inc()
        _safely(_complete, claim, response)
    else:
        OUTCOMES.labels("released").inc()
        _safely(_release, claim)
    return response


def _safely(action: Callable[..., None], *args: Any) -> None:
    # The request itself is done; failing to record it must not turn its answer into a 500.
    # The in-flight lock expires on its own, after which the key can be claimed again.
    try:
        action(*args)
    except Exception:
        log.exception("could not update the idempotency record")


# -- OpenAPI ------------------------------------------------------------------------------------

_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    # The bare form (printable ASCII, no space, not starting with a quote); the quoted form
    # (a structured-field string) is accepted too, as the description says.
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": rf"^[!#-~][!-~]{{0,{MAX_KEY_LENGTH - 1}}}$",
    },
    "description": (
        "Makes the request safe to retry: the first request with a key executes; repeating it "
        "replays the stored response with `Idempotent-Replayed: true`. Same key with a "
        "different request: 422; while the first is still running: 409. 1-255 printable "
        'ASCII characters (a UUID), bare or as a structured-field string ("..."); '
        "`X-Idempotency-Key` is accepted too. Keys are scoped to the caller's token and this "
        "endpoint and kept 24 h (JUNCTION_IDEMPOTENCY_TTL). Policy: docs/idempotency.md."
    ),
}
_ALT_RESPONSES = {
    400: "Malformed Idempotency-Key (code IDEMPOTENCY_KEY_INVALID).",
    409: "A request with this Idempotency-Key is still running (IDEMPOTENCY_IN_FLIGHT); retry.",
    422: "The Idempotency-Key was used for a different request (IDEMPOTENCY_KEY_REUSED).",
}


def _document(wrapper: Callable[..., Any]) -> None:
    """Add the header parameter, the replay header and the error responses to the view's doc."""
    apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    apidoc.setdefault("arguments", {}).setdefault("parameters", []).append(deepcopy(_PARAMETER))
    responses = apidoc.setdefault("response", {}).setdefault("responses", {})
    for status in apidoc.get("success_status_codes", []):
        for doc in responses.get(status, []):
            if isinstance(doc, dict):
                doc.setdefault("headers", {})[REPLAYED_HEADER] = {
                    "description": "`true` when this is the stored response of an earlier "
                    "request with the same Idempotency-Key.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
    for status, description in _ALT_RESPONSES.items():
        entries = responses.setdefault(status, [])
        if not entries:  # keep a view's own description of e.g. its 409
            entries.append({"schema": "Problem", "description": description, "content_type": None})
    wrapper._apidoc = apidoc  # type: ignore[attr-defined]


# -- retention ----------------------------------------------------------------------------------


def cleanup_expired(now: dt.datetime | None = None) -> int:
    """Delete keys past their retention; returns how many. Run by the scheduler's leader."""
    moment = now or policy().clock()
    with db.engine.begin() as connection:
        return connection.execute(sa.delete(TABLE).where(TABLE.c.expires_at <= moment)).rowcount


def init_app(app: Flask) -> None:
    """Set the policy from the configuration and register the cleanup job with the scheduler."""
    junction_state(app).idempotency = IdempotencyPolicy(
        ttl=dt.timedelta(seconds=app.config["JUNCTION_IDEMPOTENCY_TTL"])
    )
    scheduler.register_core_job(
        cleanup_expired, seconds=CLEANUP_INTERVAL_SECONDS, id="idempotency.cleanup"
    )
