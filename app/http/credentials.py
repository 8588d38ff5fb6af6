"""The client's credentials: a session that does not leak them, the secrets to scrub, a key id."""

from __future__ import annotations

import hashlib
import http.cookiejar
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import HTTPBasicAuth

from app.redaction import is_sensitive_name


class ApiSession(requests.Session):
    """A session that keeps no cookies and drops API-key headers on cross-host redirects.

    requests already strips ``Authorization`` when a redirect leaves the host; custom credential
    headers (``X-API-Key``) it would forward, so they are removed here too. Cookies are refused
    so a server's session cookie never replaces the configured credentials.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        """Strip every credential-like header when a redirect changes host."""
        # types-requests leaves the redirect hooks unannotated.
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        if self.should_strip_auth(response.request.url, prepared_request.url):  # type: ignore[no-untyped-call]
            for name in list(prepared_request.headers):
                if is_sensitive_name(name):
                    del prepared_request.headers[name]


def basic_header(auth: HTTPBasicAuth) -> str:
    """The ``Authorization`` value that ``auth`` sends."""
    request = requests.Request("GET", "http://x/").prepare()
    auth(request)
    return str(request.headers.get("Authorization", ""))


def header_secrets(value: str) -> set[str]:
    """The secret parts of a credential header value: the whole value and its token part."""
    found = {value}
    scheme, _, token = value.partition(" ")
    if token and scheme.isalpha():
        found.add(token.strip())
    return found


def call_secrets(headers: Mapping[str, str] | None) -> frozenset[str]:
    """The secrets carried by one call's extra ``headers``."""
    if not headers:
        return frozenset()
    found: set[str] = set()
    for name, value in headers.items():
        if is_sensitive_name(name) and value:
            found |= header_secrets(value)
    return frozenset(s for s in found if len(s) >= 4)


def key_id(base_url: str, secrets: list[str], auth: Any) -> str:
    """A stable, non-reversible id of the credential (plus host) for the shared budget."""
    digest = hashlib.sha256(urlsplit(base_url).netloc.encode())
    for secret in secrets:
        digest.update(b"\0" + secret.encode())
    if auth is not None and not isinstance(auth, HTTPBasicAuth):
        digest.update(b"\0" + type(auth).__name__.encode())
    return digest.hexdigest()[:16]
