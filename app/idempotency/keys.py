"""The ``Idempotency-Key`` header: parsing the key, and the fingerprint of a request."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from werkzeug.datastructures import Headers

HEADER = "Idempotency-Key"
LEGACY_HEADER = "X-Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


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
