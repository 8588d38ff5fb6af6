"""The ``kafka`` backend's factory, as the builds plugin calls it."""

from __future__ import annotations

from flask import has_app_context

from plugins.builds.queue_base import QueueOptions
from plugins.queue_kafka.backend import KafkaQueue
from plugins.queue_kafka.config import KafkaSettings, settings_from_app


def kafka_backend(options: QueueOptions) -> KafkaQueue:
    """A handle on the queue the ``queue_kafka`` settings name (with the app's clock)."""
    if has_app_context():
        settings = settings_from_app()
    else:  # outside an app: JUNCTION_QUEUE_KAFKA_* keys of the configuration
        prefix = "JUNCTION_QUEUE_KAFKA_"
        settings = KafkaSettings.from_mapping(
            {k[len(prefix) :].lower(): v for k, v in options.config.items() if k.startswith(prefix)}
        )
    return KafkaQueue(settings, options.clock)
