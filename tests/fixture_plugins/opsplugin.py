"""A test plugin with one durable operation that creates things in an external HTTP service.

It is written the way real plugins should write handlers (see docs/operations.md):

* the checkpoint records how far the work got and what was created;
* every external create carries an external id, and the service answers a repeated create
  with the existing object, so redoing the step that ran between "side effect done" and
  "checkpoint saved" cannot create a duplicate.

``params.hang_after = k`` makes the *first* attempt stop dead right after the k-th create and
before checkpointing it, so a test can kill the process exactly inside that window.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from app.hookspecs import hookimpl

KIND = "opsplugin.create_things"


def create_things(ctx: Any) -> dict[str, Any]:
    """Create ``params.count`` things named ``<prefix>-<i>``; resumable and idempotent."""
    base_url = ctx.params["base_url"]
    count = int(ctx.params["count"])
    prefix = ctx.params["prefix"]
    created: dict[str, str] = dict(ctx.checkpoint.get("created", {}))
    start = int(ctx.checkpoint.get("next", 0))

    for index in range(start, count):
        ctx.raise_if_cancelled()
        external_id = f"{prefix}-{index}"
        # Idempotent create: same external id -> the service returns the existing thing.
        response = requests.post(
            f"{base_url}/things",
            json={"external_id": external_id, "name": f"thing {index}"},
            timeout=10,
        )
        response.raise_for_status()
        created[external_id] = response.json()["id"]
        if ctx.attempt == 1 and ctx.params.get("hang_after") == index + 1:
            # Simulated crash window: the side effect happened, the checkpoint did not.
            threading.Event().wait(300)
        ctx.save_checkpoint({"next": index + 1, "created": created})
        ctx.progress(index + 1, count, f"created {external_id}")
    return {"created": created}


@hookimpl
def junction_operations() -> dict[str, Any]:
    """The plugin's operation kinds."""
    return {KIND: create_things}
