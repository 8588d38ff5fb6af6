"""The reference worker: lease an item, ``pip wheel`` it in a scratch folder, report, ack.

For each leased item: a ``building`` event; ``pip wheel --no-deps NAME==VERSION`` in a fresh
scratch folder (``--no-index --find-links`` when ``builds.find_links`` is set, else
``--index-url``), its output streamed line by line to the live log; when it ends, the whole log,
a ``built`` / ``failed`` / ``timeout`` event (with the duration) and a manifest entry; then ack.
A worker killed mid-build leaves its lease to expire, and the item is built again
(at-least-once). Idempotent per item: event ids derive from the item id and attempt, and an
item whose wheel is already in the manifest and on disk is acknowledged as ``reused``.

Hint recipes are written to the log for the operator, never run, unless ``builds.run_recipes``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.db import db
from plugins.builds import history, logs, logtail, plans
from plugins.builds.config import option
from plugins.builds.models import ManifestEntry
from plugins.builds.queue import get_backend
from plugins.builds.queue_base import Lease, QueueItem

FLUSH_LINES = 50
FLUSH_SECONDS = 0.5


@dataclass
class Outcome:
    """What one build produced."""

    item_id: str
    name: str
    version: str
    status: str
    wheel: str | None = None
    duration_ms: int = 0
    detail: str | None = None


@dataclass
class DrainResult:
    """What a drain did."""

    built: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"processed": len(self.built), "builds": self.built}


def wheel_dir() -> Path:
    """Where wheels go (setting ``builds.wheel_dir``, default ``<instance>/builds-wheels``)."""
    folder = Path(option("wheel_dir") or Path(current_app.instance_path) / "builds-wheels")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pip_command(item: QueueItem, out: Path) -> list[str]:
    """The ``pip wheel`` command line for ``item``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "-v",  # the backend's output (compiler lines) belongs in the build log
        "-w",
        str(out),
        f"{item.package}=={item.version}",
    ]
    find_links = option("find_links")
    if find_links:
        command += ["--no-index", "--find-links", find_links]
    else:
        command += ["--index-url", option("index_url")]
    return command


class _LogPump:
    """Collects a build's output and appends it to the live log in small batches."""

    def __init__(self, item: QueueItem) -> None:
        self.item = item
        self.lines: list[str] = []
        self._pending: list[str] = []
        self._last_flush = time.monotonic()

    def add(self, line: str) -> None:
        """Record one line; append the batch when it is big or old enough."""
        self.lines.append(line)
        self._pending.append(line)
        if len(self._pending) >= FLUSH_LINES or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Append the lines not sent yet."""
        if self._pending:
            logtail.append(self.item.package, self.item.version, "\n".join(self._pending))
            self._pending = []
        self._last_flush = time.monotonic()


def _recipes_lines(item: QueueItem) -> list[str]:
    lines = []
    for manager, names in sorted((item.recipes or {}).items()):
        if names:
            verb = "would run" if not option("run_recipes") else "running"
            lines.append(f"[junction] recipe ({verb}): {manager} install {' '.join(names)}")
    return lines


def _run_recipes(item: QueueItem, pump: _LogPump) -> None:
    if not option("run_recipes"):
        return
    for manager, names in sorted((item.recipes or {}).items()):
        tool = {"dnf": "dnf", "apt": "apt-get"}.get(manager)
        if not names or not tool or shutil.which(tool) is None:
            continue
        done = subprocess.run(
            [tool, "install", "-y", *names],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        pump.add(f"[junction] {tool} exited {done.returncode}")


def _already_built(item: QueueItem) -> str | None:
    entry = db.session.scalar(
        sa.select(ManifestEntry)
        .where(
            ManifestEntry.name == item.package,
            ManifestEntry.version == item.version,
            ManifestEntry.python_tag.is_not_distinct_from(item.python_tag),
            ManifestEntry.platform_tag.is_not_distinct_from(item.platform_tag),
            ManifestEntry.status == "built",
        )
        .order_by(ManifestEntry.id.desc())
        .limit(1)
    )
    if entry is not None and entry.wheel and Path(entry.wheel).is_file():
        return entry.wheel
    return None


def build(lease: Lease, run_id: str, timeout: float | None = None) -> Outcome:
    """Build one leased item and report it (events, live log, whole log, manifest)."""
    item = lease.item
    ident = f"{item.id}:{item.attempts}"
    tags = {"python_tag": item.python_tag, "platform_tag": item.platform_tag, "run_id": run_id}
    reused = _already_built(item)
    if reused is not None:
        history.ingest(
            [
                {
                    "event_id": f"{ident}:reused",
                    "name": item.package,
                    "version": item.version,
                    "status": "reused",
                    **tags,
                }
            ]
        )
        return Outcome(item.id, item.package, item.version, "reused", reused)
    history.ingest(
        [
            {
                "event_id": f"{ident}:building",
                "name": item.package,
                "version": item.version,
                "status": "building",
                **tags,
            }
        ]
    )
    pump = _LogPump(item)
    for line in _recipes_lines(item):
        pump.add(line)
    _run_recipes(item, pump)
    timeout = float(timeout or option("build_timeout"))
    started = time.monotonic()
    status, wheel = "failed", None
    with tempfile.TemporaryDirectory(prefix="junction-build-") as scratch:
        out = Path(scratch) / "out"
        command = pip_command(item, out)
        pump.add("[junction] $ " + " ".join(command[1:]))
        code = _run(command, Path(scratch), timeout, pump.add)
        if code is None:
            status = "timeout"
            pump.add(f"[junction] killed after {timeout:g} s")
        elif code == 0 and (built := sorted(out.glob("*.whl"))):
            target = wheel_dir() / built[0].name
            shutil.move(str(built[0]), target)
            status, wheel = "built", str(target)
        else:
            pump.add(f"[junction] pip exited {code}")
    pump.flush()
    duration_ms = int((time.monotonic() - started) * 1000)
    text = "\n".join(pump.lines) + "\n"
    detail = None if status == "built" else (pump.lines[-2] if len(pump.lines) > 1 else None)
    history.ingest(
        [
            {
                "event_id": f"{ident}:{status}",
                "name": item.package,
                "version": item.version,
                "status": status,
                "detail": detail,
                "duration_ms": duration_ms,
                **tags,
            }
        ]
    )
    logs.store({"name": item.package, "version": item.version, "content": text, "run_id": run_id})
    plans.save_manifest(
        run_id,
        [
            {
                "name": item.package,
                "version": item.version,
                "wheel": wheel,
                "status": status,
                "python_tag": item.python_tag,
                "platform_tag": item.platform_tag,
            }
        ],
    )
    return Outcome(item.id, item.package, item.version, status, wheel, duration_ms, detail)


def _run(command: list[str], cwd: Path, timeout: float, emit: Callable[[str], None]) -> int | None:
    """Run ``command``, passing each output line to ``emit``; its exit code, or ``None`` when
    it ran past ``timeout`` (then it is killed, with its children)."""
    env = {**os.environ, "PIP_NO_INPUT": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            emit(line.rstrip("\n"))
        proc.wait()
    finally:
        timer.cancel()
    return None if timed_out.is_set() else proc.returncode


def drain(
    worker: str,
    *,
    once: bool = False,
    max_items: int | None = None,
    on_item: Callable[[Outcome], None] | None = None,
) -> DrainResult:
    """Build leased items until the queue has none available (``once``: at most one)."""
    backend = get_backend()
    result = DrainResult()
    run_id = f"{worker}-{int(time.time())}"
    visibility = float(option("visibility_timeout"))
    while max_items is None or len(result.built) < max_items:
        lease = backend.lease(worker, visibility)
        if lease is None:
            break
        try:
            outcome = build(lease, run_id)
        except Exception:
            # Our own failure, not the package's: give the item back for another try.
            db.session.rollback()
            backend.nack(lease.item.id, lease.token, delay=60)
            raise
        backend.ack(lease.item.id, lease.token)
        result.built.append(outcome.__dict__)
        if on_item is not None:
            on_item(outcome)
        if once:
            break
    return result
