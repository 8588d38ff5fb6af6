"""Secrets at rest: re-encryption under the current key (``junction secrets rotate``) and the
readiness check that reports what still needs it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa

from app.db import db
from app.errors import JunctionError
from app.settings.model import Setting
from app.settings.store import _crypto
from app.settings_crypto import Crypto

log = logging.getLogger("app.settings")  # one logger for the package, as before the split


def reencrypt_secrets() -> int:
    """Encrypt every secret stored in clear (after ``JUNCTION_SECRET_KEY`` was configured).

    Returns how many values were encrypted; 0 without a key. Commits the session.
    """
    return rotate_secrets()["encrypted"] if _crypto().current is not None else 0


def rotate_secrets() -> dict[str, Any]:
    """Re-encrypt every stored secret with the current ``JUNCTION_SECRET_KEY``.

    Secrets under a key of ``JUNCTION_SECRET_KEY_FALLBACKS`` are re-encrypted (``rotated``),
    secrets stored in clear are encrypted (``encrypted``); ``unreadable`` names those no
    configured key decrypts (they are left as they are). :class:`JunctionError` (409) without a
    key. Commits the session; ``junction secrets rotate`` calls this.
    """
    crypto = _crypto()
    if crypto.current is None:
        raise JunctionError(
            "JUNCTION_SECRET_KEY is not set: there is no key to encrypt secrets with.",
            status=409,
            code="SECRET_KEY_MISSING",
        )
    rows = db.session.scalars(sa.select(Setting).where(Setting.is_secret.is_(True))).all()
    counts: dict[str, Any] = {"rotated": 0, "encrypted": 0, "current": 0, "unreadable": []}
    for row in rows:
        if not row.encrypted:
            row.value, row.encrypted = crypto.encrypt(row.value), True
            counts["encrypted"] += 1
            continue
        key = crypto.key_of(row.value)
        if key == "current":
            counts["current"] += 1
        elif key == "fallback":
            row.value = crypto.rotate(row.value)
            counts["rotated"] += 1
        else:
            counts["unreadable"].append(_row_name(row))
    db.session.commit()
    crypto.audit.clear()
    counts["unreadable"] = sorted(set(counts["unreadable"]))
    log.info(
        "secrets rotated: %d re-encrypted, %d encrypted, %d unreadable",
        counts["rotated"],
        counts["encrypted"],
        len(counts["unreadable"]),
    )
    return counts


def _row_name(row: Any) -> str:
    return f"{row.namespace}.{row.key}" + (f"@{row.project_id}" if row.project_id else "")


# -- readiness ----------------------------------------------------------------------------------


def secrets_check() -> str:
    """Readiness detail about secrets at rest. It passes, but warns when secrets are readable.

    Warns (without failing) when no key is configured, when secrets were stored in clear
    before a key was set, when some still use a fallback key, and when some cannot be
    decrypted with any key. Probes come every few seconds: the secrets are decrypted only when
    the table changed since the last probe (count, newest change), never on every call.
    """
    crypto = _crypto()
    fingerprint_query = sa.select(
        sa.func.count(), sa.func.max(Setting.updated_at), sa.func.max(Setting.id)
    ).where(Setting.is_secret.is_(True))
    with db.engine.connect() as connection:
        try:
            fingerprint = tuple(connection.execute(fingerprint_query).one())
            with crypto.lock:
                cached = crypto.audit.get("result")
                if cached is not None and crypto.audit.get("fingerprint") == fingerprint:
                    return cast(str, cached)
            rows = connection.execute(
                sa.select(
                    Setting.namespace,
                    Setting.key,
                    Setting.project_id,
                    Setting.value,
                    Setting.encrypted,
                ).where(Setting.is_secret.is_(True))
            ).all()
        except sa.exc.DBAPIError:
            return "settings table not found; run 'junction db upgrade'"
    result = _audit(crypto, rows)
    with crypto.lock:
        crypto.audit.update(fingerprint=fingerprint, result=result)
    return result


def _audit(crypto: Crypto, rows: Sequence[Any]) -> str:
    plain = [row for row in rows if not row.encrypted]
    if crypto.current is None:
        return (
            "WARNING: JUNCTION_SECRET_KEY is not set: secret settings are stored unencrypted "
            f"({len(plain)} stored)"
        )
    keys = {_row_name(row): crypto.key_of(row.value) for row in rows if row.encrypted}
    unreadable = sorted({name.split("@")[0] for name, key in keys.items() if key == "unreadable"})
    old = sum(1 for key in keys.values() if key == "fallback")
    notes = ["secret settings encrypted at rest (Fernet)"]
    if unreadable:
        notes.append(
            f"WARNING: {len(unreadable)} secret setting(s) cannot be decrypted with "
            f"JUNCTION_SECRET_KEY or its fallbacks ({', '.join(unreadable[:10])}); add the key "
            "they were stored with to JUNCTION_SECRET_KEY_FALLBACKS or set them again"
        )
    if old:
        notes.append(
            f"WARNING: {old} secret setting(s) still use a key of JUNCTION_SECRET_KEY_FALLBACKS; "
            "run 'junction secrets rotate'"
        )
    if plain:
        notes.append(
            f"WARNING: {len(plain)} secret setting(s) were stored before the key was set and "
            "are unencrypted; run 'junction secrets rotate'"
        )
    return "; ".join(notes)
