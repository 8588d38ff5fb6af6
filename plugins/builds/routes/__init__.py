"""HTTP routes of the builds plugin: parse, call the service, respond.

Each module registers its routes on :data:`.blueprint.blp` when imported; they are imported
here in the order the API lists them.
"""

from __future__ import annotations

from plugins.builds.routes import events, logs, queue
from plugins.builds.routes.blueprint import blp

__all__ = ["blp", "events", "logs", "queue"]
