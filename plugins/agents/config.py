"""The plugin's settings (namespace ``agents``), set globally or per project."""

from __future__ import annotations

from typing import Any

NAMESPACE = "agents"

DECLARATION: dict[str, Any] = {
    "namespace": NAMESPACE,
    "fields": {
        "agent_command": {
            "type": "str",
            "default": "",
            "scope": "both",
            "help": "Shell command of the project's agent process; empty runs Junction's "
            "reference orchestrator (junction agents orchestrate PROJECT).",
        },
        "feature_command": {
            "type": "str",
            "default": "",
            "scope": "both",
            "help": "Shell command the reference orchestrator runs for each feature (in the "
            "project's directory; JUNCTION_FEATURE_ID/NAME name the feature). Exit 0 = passes.",
        },
        "stop_grace": {
            "type": "int",
            "default": 10,
            "min": 0,
            "max": 3600,
            "scope": "both",
            "help": "Seconds between SIGTERM and SIGKILL on a hard stop.",
        },
    },
}
