"""Ticket attachments: stored in the instance folder, size-limited, content type sniffed.

The type comes from the file's first bytes, not from what the browser claimed, so a ``.png``
that is really HTML is stored (and uploaded to Jira) as text, never as an image.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO, Any

from app.errors import JunctionError, ValidationFailed, field_error
from plugins.jira.models import Ticket

SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class TooLarge(JunctionError):
    """413: the upload is larger than ``attachment_max_bytes``."""

    status, code = 413, "JIRA_ATTACHMENT_TOO_LARGE"


def sniff(head: bytes) -> str:
    """The content type of a file from its first bytes."""
    for magic, mime in SIGNATURES:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def safe_filename(name: str) -> str:
    """A filename with no directory part and no odd characters (never empty)."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    cleaned = SAFE_NAME.sub("_", base).strip(". ") or "attachment"
    return cleaned[:200]


def store(ticket: Ticket, folder: Path, filename: str, stream: IO[bytes], limit: int) -> None:
    """Write the upload to ``folder/<ticket id>/<filename>``; 413 past ``limit`` bytes."""
    if not filename:
        raise ValidationFailed(
            "Send the file as multipart/form-data in a part named 'file' with a filename.",
            errors=[field_error("file", "Missing file.", "required")],
        )
    name = safe_filename(filename)
    target_dir = folder / ticket.id
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target_dir / (name + ".part")
    size, head = 0, b""
    with open(partial, "wb") as out:
        while True:
            chunk = stream.read(64 * 1024)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                out.close()
                partial.unlink(missing_ok=True)
                raise TooLarge(
                    f"The attachment is larger than the limit of {limit} bytes "
                    "(setting jira attachment_max_bytes).",
                    limit_bytes=limit,
                )
            if len(head) < 64:
                head += chunk[: 64 - len(head)]
            out.write(chunk)
    if ticket.attachment_path and Path(ticket.attachment_path).exists():
        Path(ticket.attachment_path).unlink()
    target = target_dir / name
    os.replace(partial, target)
    ticket.attachment_path = str(target)
    ticket.attachment_filename = name
    ticket.attachment_size = size
    ticket.attachment_content_type = sniff(head)
    ticket.attachment_uploaded = False


def remove(ticket: Ticket) -> None:
    """Forget the ticket's attachment (and delete the file)."""
    if ticket.attachment_path:
        Path(ticket.attachment_path).unlink(missing_ok=True)
    ticket.attachment_path = ticket.attachment_filename = ticket.attachment_content_type = None
    ticket.attachment_size = None
    ticket.attachment_uploaded = False


def check_uploadable(ticket: Ticket, limit: int) -> tuple[str, str | None]:
    """``("passed"|"failed"|"skipped", why)``: would the upload work, without uploading."""
    if not ticket.attachment_path:
        return "skipped", None
    path = Path(ticket.attachment_path)
    if not ticket.attachment_filename or safe_filename(ticket.attachment_filename) != (
        ticket.attachment_filename
    ):
        return "failed", "The attachment's filename is not valid; upload it again."
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError:
        return "failed", "The attachment file is missing or unreadable; upload it again."
    if size > limit:
        return "failed", f"The attachment is {size} bytes, over the limit of {limit} bytes."
    return "passed", None


def read(ticket: Ticket) -> tuple[str, bytes, str]:
    """``(filename, content, content type)`` of the stored attachment."""
    assert ticket.attachment_path and ticket.attachment_filename
    content = Path(ticket.attachment_path).read_bytes()
    return ticket.attachment_filename, content, ticket.attachment_content_type or sniff(content)


def folder_of(instance_path: str | Path) -> Path:
    """Where attachments live: ``<instance>/jira/attachments``."""
    return Path(instance_path) / "jira" / "attachments"


def describe(ticket: Ticket) -> dict[str, Any] | None:
    """The attachment as the API shows it."""
    if not ticket.attachment_filename:
        return None
    return {"filename": ticket.attachment_filename, "size": ticket.attachment_size}
