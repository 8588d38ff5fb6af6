"""The blackboard's settings (namespace ``blackboard``): cascade limits and the circuit breaker."""

from __future__ import annotations

from typing import Any

from app import settings

NAMESPACE = "blackboard"

DECLARATION: dict[str, Any] = {
    "namespace": NAMESPACE,
    "fields": {
        "max_depth": {
            "type": "int",
            "default": 10,
            "min": 1,
            "max": 1000,
            "scope": "global",
            "help": "Longest chain of agent outputs in one correlation; deeper fails it.",
        },
        "max_artifacts_per_correlation": {
            "type": "int",
            "default": 500,
            "min": 1,
            "max": 1_000_000,
            "scope": "global",
            "help": "Most artifacts one correlation may hold; more fails it.",
        },
        "circuit_failure_threshold": {
            "type": "int",
            "default": 5,
            "min": 1,
            "max": 1000,
            "scope": "global",
            "help": "Consecutive failures of an HTTP agent that open its circuit.",
        },
        "circuit_cooldown_seconds": {
            "type": "float",
            "default": 30.0,
            "min": 0.0,
            "max": 86400.0,
            "scope": "global",
            "help": "How long an open circuit refuses calls before one is tried again.",
        },
    },
}


def get(key: str) -> Any:
    """The effective value of ``blackboard.<key>``."""
    return settings.get(NAMESPACE, key)
