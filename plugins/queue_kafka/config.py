"""The ``queue_kafka`` settings (namespace ``queue_kafka``) and the client configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NAMESPACE = "queue_kafka"

DECLARATION: dict[str, Any] = {
    "namespace": NAMESPACE,
    "fields": {
        "bootstrap_servers": {
            "type": "str",
            "default": "127.0.0.1:9092",
            "scope": "global",
            "help": "Kafka bootstrap servers, host:port[,host:port...].",
        },
        "topic": {
            "type": "str",
            "default": "junction.builds.queue",
            "scope": "global",
            "help": "Topic of the build queue (created with `partitions` partitions if absent).",
        },
        "group_id": {
            "type": "str",
            "default": "junction.builds.workers",
            "scope": "global",
            "help": "Consumer group whose committed offsets say where the pending items start.",
        },
        "partitions": {
            "type": "int",
            "default": 1,
            "min": 1,
            "max": 256,
            "scope": "global",
            "help": "Partitions of a topic the backend creates; FIFO holds per partition.",
        },
        "security_protocol": {
            "type": "str",
            "default": "PLAINTEXT",
            "choices": ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
            "scope": "global",
            "help": "security.protocol of the Kafka clients.",
        },
        "sasl_mechanism": {
            "type": "str",
            "default": "PLAIN",
            "choices": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
            "scope": "global",
            "help": "SASL mechanism when the protocol is SASL_*.",
        },
        "sasl_username": {
            "type": "str",
            "default": "",
            "scope": "global",
            "help": "SASL user name.",
        },
        "sasl_password": {
            "type": "str",
            "secret": True,
            "scope": "global",
            "bound_to": ["bootstrap_servers", "sasl_username"],
            "help": "SASL password (sent only to the bootstrap servers).",
        },
        "operation_timeout": {
            "type": "int",
            "default": 15,
            "min": 1,
            "max": 300,
            "scope": "global",
            "help": "Seconds one queue operation may wait for the broker before failing.",
        },
    },
}


@dataclass(frozen=True)
class KafkaSettings:
    """Where the queue lives and how to reach it."""

    bootstrap_servers: str
    topic: str = "junction.builds.queue"
    group_id: str = "junction.builds.workers"
    partitions: int = 1
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""
    operation_timeout: float = 15.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> KafkaSettings:
        """From the settings namespace's values (unknown keys ignored, empty ones defaulted)."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known and v not in (None, "")})

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties every client of the backend shares."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # Logs go through Python's logging, never to stderr with credentials.
            "log_level": 3,
        }
        if self.security_protocol.startswith("SASL"):
            config.update(
                {
                    "sasl.mechanism": self.sasl_mechanism,
                    "sasl.username": self.sasl_username,
                    "sasl.password": self.sasl_password,
                }
            )
        return config


def settings_from_app() -> KafkaSettings:
    """The settings of the running app (needs an app context)."""
    from app import settings

    return KafkaSettings.from_mapping(settings.get_all(NAMESPACE))
