"""Stored build logs as rows: their text and the newest log of a version.

Both :mod:`plugins.builds.logs` (which stores and serves logs) and :mod:`plugins.builds.hints`
(which matches a failed version's log) read logs through here, so neither imports the other.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa

from app.db import db
from plugins.builds.models import BuildLog


def text_of(log: BuildLog) -> str:
    """A stored log's text."""
    return zlib.decompress(log.content).decode("utf-8", "replace")


def newest_log(name: str, version: str) -> BuildLog | None:
    """The newest stored log of ``name==version`` (already normalised), or ``None``."""
    return db.session.scalar(
        sa.select(BuildLog)
        .where(BuildLog.name == name, BuildLog.version == version)
        .order_by(BuildLog.timestamp.desc(), BuildLog.id.desc())
        .limit(1)
    )
