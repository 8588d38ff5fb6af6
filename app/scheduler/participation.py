"""Whether this process takes part in the leader election (the ``auto`` rule)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

_FLASK_OPTIONS_WITH_VALUE = frozenset({"--app", "-A", "--env-file", "-e"})


# Commands of the ``junction`` console script that are Flask's own, not the ``junction`` group's.
_FLASK_BUILTINS = frozenset({"run", "shell", "routes"})


def flask_cli_words(argv: Sequence[str]) -> list[str] | None:
    """The command words of a Flask CLI invocation, as ``flask`` spells them
    (``["junction", "worker"]``), or ``None`` when ``argv`` is not a Flask CLI.

    The ``junction`` console script serves the ``junction`` group at its top level, so
    ``junction worker`` gives ``["junction", "worker"]`` and ``junction run`` gives ``["run"]``.
    """
    if not argv:
        return None
    program = Path(argv[0])
    is_flask = program.name == "flask" or (
        program.name == "__main__.py" and program.parent.name == "flask"
    )
    is_junction = program.name == "junction"
    if not (is_flask or is_junction):
        return None
    words: list[str] = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in _FLASK_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    if is_junction and words[:1] != ["junction"] and not set(words[:1]) & _FLASK_BUILTINS:
        words.insert(0, "junction")
    return words


def _reloader_watcher(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    # ``flask run`` with the reloader loads the app in a watcher process that only restarts the
    # real server (WERKZEUG_RUN_MAIN=true); the watcher must not lead.
    if environ.get("WERKZEUG_RUN_MAIN") == "true" or "--no-reload" in argv:
        return False
    debug = environ.get("FLASK_DEBUG", "").lower() in {"1", "true", "yes", "on"}
    return "--reload" in argv or "--debug" in argv or (debug and "--no-debug" not in argv)


def participation(
    mode: str,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    modules: Mapping[str, Any] | None = None,
) -> tuple[bool, str]:
    """Whether this process takes part in the election under ``mode``, and why.

    ``auto`` participates in servers only: gunicorn and uWSGI workers, ``flask run`` (not its
    reloader watcher) and ``junction worker`` (or ``flask junction worker``); never in other
    commands (``junction db upgrade``, ``junction jobs run``...), shells, scripts or test
    processes.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if mode == "off":
        return False, "off"
    if mode == "on":
        return True, "on"
    words = flask_cli_words(argv)
    if words is not None:
        if words[:1] == ["run"]:
            if _reloader_watcher(argv, environ):
                return False, "flask run reloader watcher"
            return True, "flask run"
        if words[:2] == ["junction", "worker"]:
            return True, "flask junction worker"
        return False, f"flask {' '.join(words[:3])}".rstrip()
    if "gunicorn.arbiter" in modules:
        return True, "gunicorn"
    if "uwsgi" in modules:
        return True, "uwsgi"
    return False, "not a server process (set JUNCTION_SCHEDULER=on to participate)"


def _in_gunicorn_arbiter() -> bool:
    """Whether the app is being loaded by gunicorn's master (``--preload``), not a worker."""
    if "gunicorn.arbiter" not in sys.modules:
        return False
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

    frame: FrameType | None = sys._getframe(1)
    seen_arbiter = False
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Worker):
            return False
        seen_arbiter = seen_arbiter or isinstance(owner, Arbiter)
        frame = frame.f_back
    return seen_arbiter
