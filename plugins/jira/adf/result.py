"""The converter's result: the ADF document, its warnings and its figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConversionWarning:
    """Something the converter dropped or changed: a stable `code` and a message for people.

    `count` says how many times the same thing happened in one document (identical warnings
    are merged so a long description does not produce hundreds of them).
    """

    code: str
    message: str
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by the API: `{"code", "message", "count"}`."""
        return {"code": self.code, "message": self.message, "count": self.count}


@dataclass
class Conversion:
    """What `html_to_adf` returns.

    * `adf` — the ADF document (`{"type": "doc", "version": 1, "content": [...]}`), always
      valid against Atlassian's ADF JSON schema.
    * `warnings` — what was dropped or changed, in the order first seen.
    * `adf_size_bytes` — size of `adf` as sent to Jira: compact JSON, UTF-8.
    * `character_reduction` — share of the HTML's visible text (non-whitespace characters)
      that is not in the ADF, from 0.0 (all text kept) to 1.0 (all lost), 4 decimals.
    """

    adf: dict[str, Any]
    warnings: list[ConversionWarning] = field(default_factory=list)
    adf_size_bytes: int = 0
    character_reduction: float = 0.0
    source_characters: int = 0
    adf_characters: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `POST /api/jira/adf-preview`."""
        return {
            "adf": self.adf,
            "warnings": [w.to_dict() for w in self.warnings],
            "adf_size_bytes": self.adf_size_bytes,
            "character_reduction": self.character_reduction,
        }


class WarningLog:
    """Collects warnings during one conversion, merging identical (code, message) pairs."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, code: str, message: str) -> None:
        """Record one occurrence of a warning."""
        key = (code, message)
        self._counts[key] = self._counts.get(key, 0) + 1

    def codes(self) -> set[str]:
        """The codes recorded so far (for tests and callers that branch on them)."""
        return {code for code, _ in self._counts}

    def to_list(self) -> list[ConversionWarning]:
        """The merged warnings in first-seen order."""
        return [ConversionWarning(c, m, n) for (c, m), n in self._counts.items()]
