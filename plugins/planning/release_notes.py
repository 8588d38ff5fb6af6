"""Release notes of completed sprints: building them, listing them and reading them safely.

Only regular ``.md`` files directly inside ``{project}/releases/`` can be read. A name with a
separator, ``..``, a NUL byte, a ``%`` (an encoded separator that a proxy may decode again) or a
symbolic link that leads outside the folder is refused.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.errors import BadRequest, NotFound

RELEASES_DIR = "releases"
MAX_NOTES_BYTES = 2 * 1024 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,200}\.md$")


def slugify(name: str) -> str:
    """``Sprint 5 / Q1`` -> ``sprint-5-q1``: the cycle's name as a tag and file name part."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:80] or "cycle"


def notes_filename(cycle_slug: str) -> str:
    """The release notes file name of a sprint."""
    return f"sprint-{cycle_slug}.md"


def build_markdown(
    cycle: dict[str, Any],
    features: Iterable[dict[str, Any]],
    change_log: str,
    tag: str,
    completed_at: dt.datetime,
) -> str:
    """The release notes of a sprint as Markdown."""
    features = list(features)
    passing = [f for f in features if f["passes"]]
    failing = [f for f in features if not f["passes"]]
    lines = [
        f"# {cycle.get('name', 'Sprint')} Release Notes",
        "",
        f"- Cycle: {cycle.get('name', '')} ({_day(cycle.get('start_date'))} to "
        f"{_day(cycle.get('end_date'))})",
        f"- Completed: {completed_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Git tag: `{tag}`",
        f"- Features: {len(passing)} completed, {len(failing)} not passing",
        "",
        "## Completed features",
        "",
    ]
    lines += [f"- {f['name']} (feature {f['id']})" for f in passing] or ["- (none)"]
    if failing:
        lines += ["", "## Not passing", ""]
        lines += [f"- {f['name']} (feature {f['id']})" for f in failing]
    lines += ["", "## Changes", ""]
    lines += [f"- {line}" for line in change_log.splitlines() if line.strip()] or [
        "- (no commits since the previous sprint)"
    ]
    return "\n".join(lines) + "\n"


def _day(value: Any) -> str:
    return str(value)[:10] if value else "?"


def releases_dir(project_path: str) -> Path:
    """``{project}/releases``."""
    return Path(project_path) / RELEASES_DIR


def write_notes(project_path: str, filename: str, content: str) -> tuple[Path, bool]:
    """Write the notes unless the file exists; returns ``(path, written)``.

    Written to a temporary file and renamed, so a crash never leaves half a file behind.
    """
    folder = releases_dir(project_path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    if target.exists():
        return target, False
    temporary = folder / f".{filename}.tmp-{os.getpid()}"
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, target)
    return target, True


def list_notes(project_path: str) -> list[dict[str, Any]]:
    """Every readable release notes file, newest first."""
    folder = releases_dir(project_path)
    if not folder.is_dir():
        return []
    items = []
    for entry in folder.iterdir():
        try:
            path = _checked(folder, entry.name)
        except (BadRequest, NotFound):
            continue
        info = path.stat()
        items.append(
            {
                "filename": entry.name,
                "cycle_name": _title_of(path) or entry.stem,
                "created_at": dt.datetime.fromtimestamp(info.st_mtime, dt.UTC),
                "size_bytes": info.st_size,
            }
        )
    items.sort(key=lambda item: (item["created_at"], item["filename"]), reverse=True)
    return items


def page_of_notes(project_path: str, limit: int, offset: int) -> dict[str, Any]:
    """A page of :func:`list_notes` in the pagination envelope (``items``, ``total``...)."""
    items = list_notes(project_path)
    return {
        "items": items[offset : offset + limit],
        "total": len(items),
        "limit": limit,
        "offset": offset,
    }


def read_notes(project_path: str, filename: str) -> dict[str, str]:
    """The content of one release notes file, after every safety check."""
    path = _checked(releases_dir(project_path), filename)
    if path.stat().st_size > MAX_NOTES_BYTES:
        raise BadRequest(f"{filename} is larger than {MAX_NOTES_BYTES} bytes.")
    return {"filename": filename, "content": path.read_text(encoding="utf-8", errors="replace")}


def _checked(folder: Path, filename: str) -> Path:
    if (
        not filename
        or "\x00" in filename
        or "/" in filename
        or "\\" in filename
        or "%" in filename
        or ".." in filename
        or os.path.isabs(filename)
    ):
        raise BadRequest(
            "filename must be a plain name of a .md file inside releases/ (no paths).",
            code="INVALID_FILENAME",
        )
    if not _SAFE_NAME.match(filename):
        raise BadRequest("filename must name a .md file.", code="INVALID_FILENAME")
    path = folder / filename
    try:
        resolved = path.resolve(strict=True)
        folder_resolved = folder.resolve(strict=True)
        project_resolved = folder.parent.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise NotFound(f"No release notes named {filename!r}.") from None
    # ``releases`` itself may be a symbolic link: it must not lead out of the project.
    if not folder_resolved.is_relative_to(project_resolved) or resolved.parent != folder_resolved:
        raise NotFound(f"No release notes named {filename!r}.")
    if not stat.S_ISREG(os.stat(resolved).st_mode):
        raise NotFound(f"No release notes named {filename!r}.")
    return resolved


def _title_of(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline().strip()
    except OSError:
        return None
    if first.startswith("# "):
        return first[2:].removesuffix(" Release Notes").strip() or None
    return None
