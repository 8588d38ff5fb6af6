"""``junction builds ...``: enqueue, queue, worker, hints, logs search, summary.

The commands call the same services as the HTTP API and print JSON; failures are JSON problem
documents on stderr (``JunctionGroup``).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import click

from app.cli_errors import JunctionGroup
from plugins.builds import hints, history, logs, queue
from plugins.builds.worker import drain

builds_group = JunctionGroup("builds", help="Wheel-build control plane: queue, worker, logs.")


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@builds_group.command("enqueue")
@click.argument("package")
@click.argument("version")
@click.option("--python-tag")
@click.option("--platform-tag")
@click.option("--dnf", multiple=True, help="A dnf package the build needs (repeatable).")
@click.option("--apt", multiple=True, help="An apt package the build needs (repeatable).")
def enqueue(
    package: str,
    version: str,
    python_tag: str | None,
    platform_tag: str | None,
    dnf: tuple[str, ...],
    apt: tuple[str, ...],
) -> None:
    """Queue a build of PACKAGE==VERSION (not twice while one is queued or building)."""
    from plugins.builds.schemas import BuildsEnqueueSchema

    body = BuildsEnqueueSchema().load(
        {
            "package": package,
            "version": version,
            "python_tag": python_tag,
            "platform_tag": platform_tag,
            "recipes": {"dnf": list(dnf), "apt": list(apt)},
        }
    )
    item, created = queue.enqueue(body)
    _echo({"created": created, "item": item})


@builds_group.command("queue")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--stats", "only_stats", is_flag=True, help="Only the statistics.")
def show_queue(limit: int, only_stats: bool) -> None:
    """Show the queue's statistics and items."""
    result: dict[str, Any] = {"stats": queue.stats()}
    if not only_stats:
        result["items"] = queue.list_items(limit, 0)["items"]
    _echo(result)


@builds_group.command("worker")
@click.option("--once", is_flag=True, help="Build at most one item, then exit.")
@click.option("--name", default=None, help="Worker name (default: host:pid).")
def worker(once: bool, name: str | None) -> None:
    """Run the reference worker: lease, pip wheel, report, ack, until the queue is empty."""
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    result = drain(
        name,
        once=once,
        on_item=lambda o: click.echo(
            f"{o.name}=={o.version}: {o.status} ({o.duration_ms} ms) {o.wheel or ''}", err=True
        ),
    )
    _echo(result.as_dict())


@builds_group.command("hints")
def list_hints() -> None:
    """List the hints."""
    _echo(hints.list_hints())


@builds_group.group("logs", cls=JunctionGroup)
def logs_group() -> None:
    """Build logs."""


@logs_group.command("search")
@click.argument("query")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
def search(query: str, limit: int) -> None:
    """Full-text search of build logs (words, "phrases", -exclusions, or)."""
    _echo(logs.search(query, limit))


@builds_group.command("summary")
@click.option("--failure-limit", default=20, show_default=True, type=click.IntRange(0, 500))
@click.option("--window-hours", default=24, show_default=True, type=click.IntRange(1, 8784))
def summary(failure_limit: int, window_hours: int) -> None:
    """Status counts over the window and the latest failures."""
    _echo(history.summary(failure_limit, window_hours))
