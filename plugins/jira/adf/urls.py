"""Safe URLs for links and images.

Atlassian's runtime validator rejects a link whose `href` fails its `isSafeUrl` allow-list,
and Jira rejects the whole description with a bare `INVALID_INPUT`. We accept a strict
subset of that allow-list: absolute `http`, `https`, `ftp`, `ftps` URLs with a host, and
`mailto:` / `tel:`. Anything else (`javascript:`, `data:`, `vbscript:`, `file:`...) is
unsafe. Relative URLs mean nothing inside Jira: they are resolved against `base_url` when
the caller gives one, otherwise dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

# Browsers ignore leading/trailing C0 controls and spaces, and remove tabs and newlines
# anywhere in a URL ("java\tscript:" is javascript:). Do the same before judging the scheme.
_STRIP = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
HIERARCHICAL = frozenset(("http", "https", "ftp", "ftps"))
OPAQUE = frozenset(("mailto", "tel"))
IMAGE_SCHEMES = frozenset(("http", "https"))


@dataclass(frozen=True)
class UrlCheck:
    """The verdict on one URL: `url` to use (None when dropped) and why it changed or went."""

    url: str | None
    problem: str | None = None  # "unsafe" | "relative" | "invalid"
    changed: bool = False


def clean_url(raw: str) -> str:
    """The URL as a browser would read it from an attribute."""
    return _TAB_NEWLINE.sub("", raw.strip(_STRIP))


def check_url(raw: str, base_url: str | None = None, *, image: bool = False) -> UrlCheck:
    """Decide whether `raw` can go into ADF, resolving relative URLs against `base_url`."""
    url = clean_url(raw)
    if not url:
        return UrlCheck(None, "invalid")
    changed = url != raw
    match = _SCHEME.match(url)
    if match is None:
        if url.startswith("//"):
            # Protocol-relative: take the base's scheme, else https.
            scheme = urlsplit(base_url).scheme if base_url else "https"
            url, changed = f"{scheme or 'https'}:{url}", True
        elif base_url and _is_absolute_base(base_url):
            url, changed = urljoin(base_url, url), True
        else:
            return UrlCheck(None, "relative")
        match = _SCHEME.match(url)
        if match is None:
            return UrlCheck(None, "invalid")
    scheme = match.group(1).lower()
    allowed = IMAGE_SCHEMES if image else HIERARCHICAL | OPAQUE
    if scheme not in allowed:
        return UrlCheck(None, "unsafe")
    if scheme in HIERARCHICAL:
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unbalanced "[" in the host
            return UrlCheck(None, "invalid")
        if not url[len(scheme) + 1 :].startswith("//") or not parts.hostname:
            return UrlCheck(None, "invalid")
    elif len(url) == len(scheme) + 1:  # "mailto:" with nothing after it
        return UrlCheck(None, "invalid")
    if url[: len(scheme)] != scheme:
        url, changed = scheme + url[len(scheme) :], True
    return UrlCheck(url, None, changed)


def _is_absolute_base(base_url: str) -> bool:
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
