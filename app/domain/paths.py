"""The check of a project's path, shared by the request schemas and the service."""

from __future__ import annotations

import os
from pathlib import Path

from app.errors import field_error

MAX_PATH = 1024
NOT_A_DIRECTORY = "Not an existing directory."


def path_problem(path: str) -> dict[str, str] | None:
    """``None`` when ``path`` is an absolute, existing directory; else its field error."""
    resolved = Path(os.path.expanduser(path))
    if not resolved.is_absolute():
        return field_error("path", "Give an absolute path.")
    try:
        is_dir = resolved.is_dir()
    except (OSError, ValueError):  # a component too long, and the like: not a directory either
        is_dir = False
    if not is_dir or len(str(resolved)) > MAX_PATH:
        return field_error("path", NOT_A_DIRECTORY, "not_a_directory")
    return None


def normalised(path: str) -> str:
    """The path as stored: ``~`` expanded."""
    return str(Path(os.path.expanduser(path)))
