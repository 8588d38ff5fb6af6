"""Validation against Atlassian's ADF JSON schema (`adf-schema-v1-full.json`, draft-04).

The schema file is `dist/json-schema/v1/full.json` of the npm package `@atlaskit/adf-schema`
57.7.22 (Apache-2.0, Atlassian), vendored unchanged next to this module.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft4Validator

SCHEMA_FILE = "adf-schema-v1-full.json"
SCHEMA_VERSION = "@atlaskit/adf-schema 57.7.22"
MAX_ERRORS = 20


@cache
def _validator() -> Draft4Validator:
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return Draft4Validator(json.loads(text))


def adf_schema() -> dict[str, Any]:
    """The ADF JSON schema (parsed once)."""
    return _validator().schema


def validate_adf(doc: Any) -> list[str]:
    """Errors of `doc` against the ADF schema: `[]` when valid, else up to 20 messages.

    Each message names where (a JSON path such as `$.content[2].content[0]`) and what; for
    the schema's `anyOf` branches the most specific sub-error is reported.
    """
    errors = []
    for error in sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path)):
        best = _deepest(error)
        errors.append(f"{best.json_path}: {best.message[:300]}")
        if len(errors) >= MAX_ERRORS:
            break
    return errors


def _deepest(error: Any) -> Any:
    # anyOf errors say "... is not valid under any of the given schemas"; the branch whose
    # error goes deepest into the instance is the one the author most likely meant.
    best = error
    while best.context:
        best = max(best.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
    return best
