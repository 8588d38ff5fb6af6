"""Worker trigger and smoke test: start a drain (local operation or webhook) and say the truth.

``local`` submits the durable operation ``builds.drain`` (joined, not doubled, while one is
unfinished), which runs the reference worker wherever an operations runner claims it.
``webhook`` POSTs a signed ``{"action": "drain"}``; a refused delivery is a 502 problem, an
unreachable or unconfigured receiver a 503 — never a 200 for a trigger that did not happen.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from app import operations
from app.errors import JunctionError
from app.http import HttpError
from plugins.builds import client, metrics, queue
from plugins.builds.config import option
from plugins.builds.worker import drain, wheel_dir

DRAIN_KIND = "builds.drain"


class TriggerFailed(JunctionError):
    """502/503: the trigger could not start a drain."""

    status, code, retryable = 503, "BUILDS_TRIGGER_FAILED", True


def drain_operation(ctx: Any) -> dict[str, Any]:
    """The ``builds.drain`` handler: build until the queue is empty, reporting progress."""
    done = int((ctx.checkpoint or {}).get("processed", 0))

    def progressed(outcome: Any) -> None:
        nonlocal done
        done += 1
        ctx.save_checkpoint({"processed": done})
        ctx.progress(done, None, f"{outcome.name}=={outcome.version}: {outcome.status}")

    result = drain(f"op-{ctx.id[:12]}-{os.getpid()}", on_item=progressed)
    return {"processed": done, "builds": result.as_dict()["builds"]}


def trigger() -> dict[str, Any]:
    """Start a drain by the configured mode; what was started (for a 202)."""
    mode = option("worker_trigger")
    length = queue.stats()["length"]
    if mode == "webhook":
        return _webhook(length)
    operation = operations.submit(DRAIN_KIND, {}, dedupe_key=DRAIN_KIND)
    metrics.TRIGGERS.labels(mode="local", outcome="started").inc()
    return {
        "detail": "A local drain runs as a durable operation.",
        "mode": "local",
        "queue_length": length,
        "operation_id": operation.id,
        "status_url": f"/api/operations/{operation.id}",
    }


def _webhook(length: int) -> dict[str, Any]:
    url = option("webhook_url")
    if not url:
        metrics.TRIGGERS.labels(mode="webhook", outcome="unconfigured").inc()
        raise TriggerFailed(
            "The webhook trigger has no URL: set builds.webhook_url (or use worker_trigger local).",
            code="BUILDS_TRIGGER_NOT_CONFIGURED",
        )
    try:
        status = client.send_drain(url, option("webhook_secret"))
    except HttpError as exc:
        refused = exc.status is not None
        metrics.TRIGGERS.labels(mode="webhook", outcome="refused" if refused else "down").inc()
        raise TriggerFailed(
            f"The worker webhook {'answered ' + str(exc.status) if refused else 'did not answer'}"
            f" ({exc.category}); no drain was started.",
            status=502 if refused else 503,
            code="BUILDS_TRIGGER_REFUSED" if refused else "BUILDS_TRIGGER_UNREACHABLE",
        ) from None
    metrics.TRIGGERS.labels(mode="webhook", outcome="started").inc()
    return {
        "detail": f"The worker webhook accepted the drain request ({status}).",
        "mode": "webhook",
        "queue_length": length,
        "operation_id": None,
        "status_url": None,
    }


def smoke() -> dict[str, Any]:
    """Check mounts and configuration without draining: ``{"ok", "checks": [...]}``."""
    checks: list[dict[str, Any]] = []

    def check(name: str, fn: Any) -> None:
        try:
            detail = fn()
            checks.append({"name": name, "ok": True, "detail": str(detail or "ok")})
        except Exception as exc:  # each check reports its own failure; none is a 500
            checks.append({"name": name, "ok": False, "detail": _safe(exc)})

    check("queue", lambda: "{backend}: {length} queued".format(**queue.stats()))
    check("wheel_dir", lambda: _writable(wheel_dir()))
    check("scratch", lambda: _writable(Path(tempfile.gettempdir())))
    check("pip", lambda: shutil.which("pip") or f"{sys.executable} -m pip")
    find_links = option("find_links")
    if find_links and "://" not in find_links:
        check("find_links", lambda: _folder(Path(find_links)))
    if option("worker_trigger") == "webhook":
        check("webhook_url", lambda: _configured(option("webhook_url"), "builds.webhook_url"))
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


def _safe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _writable(folder: Path) -> str:
    probe = folder / f".junction-smoke-{os.getpid()}"
    probe.write_bytes(b"ok")
    probe.unlink()
    return f"{folder} is writable"


def _folder(folder: Path) -> str:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    return f"{folder}: {sum(1 for _ in folder.iterdir())} files"


def _configured(value: str | None, name: str) -> str:
    if not value:
        raise ValueError(f"{name} is not set")
    return "set"
