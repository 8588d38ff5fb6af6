"""The few git operations sprint completion needs, through the ``git`` command."""

from __future__ import annotations

import subprocess
from pathlib import Path

from app.errors import ValidationFailed

TAG_PREFIX = "sprint/"
# Used only when the repository has no identity configured: an annotated tag needs a tagger.
_IDENTITY = ["-c", "user.name=Junction", "-c", "user.email=junction@localhost"]


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words."""


def _git(path: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["git", "-C", path, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise GitError(f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def require_repository(path: str) -> None:
    """Raise a 422 unless ``path`` is a git work tree with at least one commit."""
    if not Path(path).is_dir():
        raise ValidationFailed(f"Project path {path!r} does not exist.")
    if _git(path, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        raise ValidationFailed(
            f"Project path {path!r} is not a git repository; sprint completion tags it.",
            code="NOT_A_GIT_REPOSITORY",
        )
    if _git(path, "rev-parse", "--verify", "HEAD", check=False).returncode != 0:
        raise ValidationFailed(
            f"The repository at {path!r} has no commits yet.", code="EMPTY_REPOSITORY"
        )


def tag_exists(path: str, tag: str) -> bool:
    """Whether ``tag`` exists."""
    return (
        _git(path, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}", check=False).returncode
        == 0
    )


def previous_sprint_tag(path: str, exclude: str | None = None) -> str | None:
    """The newest ``sprint/*`` tag (by tag date), other than ``exclude``."""
    out = _git(
        path,
        "for-each-ref",
        "--sort=-creatordate",
        "--format=%(refname:short)",
        "refs/tags/sprint/",
    ).stdout
    for tag in out.splitlines():
        if tag and tag != exclude:
            return tag
    return None


def change_log(path: str, since_tag: str | None, limit: int = 50) -> str:
    """``git log --oneline`` since ``since_tag`` (or the whole history), at most ``limit``."""
    revision = f"{since_tag}..HEAD" if since_tag else "HEAD"
    out = _git(path, "log", "--oneline", "--no-decorate", f"-n{limit}", revision).stdout
    return out.strip()


def create_annotated_tag(path: str, tag: str, message: str) -> bool:
    """Create the annotated tag unless it exists; returns whether it was created."""
    if tag_exists(path, tag):
        return False
    has_identity = _git(path, "config", "user.email", check=False).returncode == 0
    args = ([] if has_identity else _IDENTITY) + ["tag", "-a", tag, "-m", message]
    result = _git(path, *args, check=False)
    if result.returncode != 0:
        if tag_exists(path, tag):  # another request created it meanwhile
            return False
        raise GitError(f"git tag failed: {result.stderr.strip()}")
    return True
