"""Validation against Atlassian's ADF JSON schema (`adf-schema-v1-full.json`, draft-04).

The schema file is `dist/json-schema/v1/full.json` of the npm package `@atlaskit/adf-schema`
57.7.22 (Apache-2.0, Atlassian), vendored unchanged next to this module.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft4Validator, validators

SCHEMA_FILE = "adf-schema-v1-full.json"
SCHEMA_VERSION = "@atlaskit/adf-schema 57.7.22"
MAX_ERRORS = 20


@cache
def _validator() -> Any:
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema = json.loads(text)
    return _dispatching_validator(schema)(schema)


def _dispatching_validator(schema: dict[str, Any]) -> Any:
    """Draft-04 with an `anyOf` that skips branches for another node or mark `type`.

    The schema lists node kinds as `anyOf` branches; plain draft-04 evaluates every failing
    branch in full, down the whole subtree, which is exponential in nesting depth (a table
    holding a list took over a second). A branch whose `type` enum excludes the instance's
    `type` can never match, so skipping it changes no verdict; when no branch is left the
    standard `anyOf` runs and reports as usual.
    """
    definitions = schema.get("definitions", {})
    standard_any_of = Draft4Validator.VALIDATORS["anyOf"]
    kinds: dict[int, frozenset[str] | None] = {}

    def kinds_of(sub: Any, seen: int = 0) -> frozenset[str] | None:
        if not isinstance(sub, dict) or seen > 10:
            return None
        key = id(sub)
        if key not in kinds:
            found: frozenset[str] | None = None
            ref = sub.get("$ref", "")
            if ref.startswith("#/definitions/"):
                found = kinds_of(definitions.get(ref.removeprefix("#/definitions/")), seen + 1)
            elif "allOf" in sub:
                for part in sub["allOf"]:
                    part_kinds = kinds_of(part, seen + 1)
                    if part_kinds is not None:
                        found = part_kinds if found is None else found & part_kinds
            else:
                enum = sub.get("properties", {}).get("type", {}).get("enum")
                if isinstance(enum, list):
                    found = frozenset(e for e in enum if isinstance(e, str))
            kinds[key] = found
        return kinds[key]

    def any_of(validator: Any, branches: list[Any], instance: Any, schema: Any) -> Any:
        kind = instance.get("type") if isinstance(instance, dict) else None
        if isinstance(kind, str):
            candidates = [b for b in branches if (k := kinds_of(b)) is None or kind in k]
            if any(validator.evolve(schema=b).is_valid(instance) for b in candidates):
                return
        yield from standard_any_of(validator, branches, instance, schema)

    return validators.extend(Draft4Validator, {"anyOf": any_of})


def adf_schema() -> dict[str, Any]:
    """The ADF JSON schema (parsed once)."""
    return _validator().schema  # type: ignore[no-any-return]  # jsonschema is untyped


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
        best = max(best.context, key=_specificity)
    return best


def _specificity(error: Any) -> tuple[bool, int, int]:
    # A branch for another node kind fails on its "type" enum: least informative of all.
    wrong_kind = error.validator == "enum" and list(error.path)[-1:] == ["type"]
    return (not wrong_kind, len(error.absolute_path), -len(error.schema_path))
