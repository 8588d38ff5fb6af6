"""Encryption of secret settings at rest, and key rotation.

Secrets are Fernet tokens under a key derived (HKDF-SHA256) from ``JUNCTION_SECRET_KEY``. To
change that key without losing what is stored, the previous keys go to
``JUNCTION_SECRET_KEY_FALLBACKS``: every key decrypts (``MultiFernet``), only the current one
encrypts, and ``junction secrets rotate`` re-encrypts every stored secret with the current key,
after which the fallbacks can be removed.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Crypto", "InvalidToken", "derive_fernet_key", "make_crypto"]

# HKDF turns the operator's secret (any length, any alphabet) into a 32-byte Fernet key. The
# input is high-entropy key material, so a fixed, public salt is fine (RFC 5869 §3.1); ``info``
# separates this use from every other use of JUNCTION_SECRET_KEY (Flask sessions...).
_HKDF_SALT = b"junction.settings.v1"
_HKDF_INFO = b"junction settings encryption key"


def derive_fernet_key(secret: str) -> bytes:
    """The Fernet key (urlsafe base64 of 32 bytes) derived from ``secret`` with HKDF-SHA256."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


@dataclass
class Crypto:
    """The app's keys: ``current`` encrypts, ``fernet`` (current, then fallbacks) decrypts.

    Both are ``None`` without ``JUNCTION_SECRET_KEY``. ``audit`` caches the readiness check's
    decryption pass (see :func:`app.settings.secrets_check`).
    """

    current: Fernet | None
    fernet: MultiFernet | None
    fallbacks: int = 0
    audit: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def encrypt(self, text: str) -> str:
        """The token of ``text`` under the current key (which must exist)."""
        assert self.current is not None
        return self.current.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """``token`` decrypted with any configured key; ``InvalidToken`` when none fits."""
        if self.fernet is None:
            raise InvalidToken
        try:
            return self.fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except ValueError:  # not ASCII, not base64
            raise InvalidToken from None

    def key_of(self, token: str) -> str:
        """``current``, ``fallback`` or ``unreadable``: which key decrypts ``token``."""
        if self.current is None or self.fernet is None:
            return "unreadable"
        for name, fernet in (("current", self.current), ("fallback", self.fernet)):
            try:
                fernet.decrypt(token.encode("ascii"))
            except (InvalidToken, ValueError):
                continue
            return name
        return "unreadable"

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the current key; ``InvalidToken`` when no key fits."""
        if self.fernet is None:
            raise InvalidToken
        try:
            return self.fernet.rotate(token.encode("ascii")).decode("ascii")
        except ValueError:
            raise InvalidToken from None


def make_crypto(secret: str | None, fallbacks: Sequence[str] = ()) -> Crypto:
    """The keys for ``JUNCTION_SECRET_KEY`` and ``JUNCTION_SECRET_KEY_FALLBACKS``."""
    if not secret:
        return Crypto(current=None, fernet=None)
    current = Fernet(derive_fernet_key(secret))
    older = [Fernet(derive_fernet_key(key)) for key in fallbacks if key and key != secret]
    return Crypto(current=current, fernet=MultiFernet([current, *older]), fallbacks=len(older))
