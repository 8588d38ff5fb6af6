"""The one JSON parser for everything a client sends: API bodies, raw-body views (webhooks) and
WebSocket messages.

Python's ``json`` accepts input that later turns into a 500: nesting deep enough to raise
``RecursionError`` (here or in any code that walks the value), integers past Python's
4,300-digit conversion limit, ``NaN``/``Infinity`` (not JSON), and ``"\\ud800"`` (unpaired
UTF-16 surrogates that no UTF-8 encoder, database driver or log accepts). :func:`parse_json`
refuses each of them with a problem document instead:

=========================  ======  ======================
input                      status  ``code``
=========================  ======  ======================
not JSON, ``NaN``, bytes   400     ``MALFORMED_JSON``
nested past ``MAX_DEPTH``  400     ``JSON_TOO_DEEP``
integer too long           422     ``NUMBER_TOO_LARGE``
unpaired surrogates        422     ``VALIDATION_ERROR`` (``errors``: ``invalid_unicode``)
=========================  ======  ======================
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from app.errors import BadRequest, JunctionError, ValidationFailed, field_error

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "JsonTooDeep", "MalformedJson", "parse_json"]

# Arrays and objects inside each other. Junction's own bodies need fewer than 10 levels; 64
# leaves room for free-form JSON settings while staying far below the interpreter's stack.
MAX_DEPTH = 64
# Python refuses to convert longer integer strings (sys.int_info.default_max_str_digits).
MAX_INT_DIGITS = 4300
# Only a ``\uXXXX`` escape can carry a surrogate: raw UTF-8 cannot encode one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedJson(BadRequest, ValueError):
    """400: the body is not JSON (a ``ValueError`` too, as ``json``'s own errors are)."""

    code = "MALFORMED_JSON"


class JsonTooDeep(BadRequest):
    """400: arrays/objects nested deeper than :data:`MAX_DEPTH`."""

    code = "JSON_TOO_DEEP"


class NumberTooLarge(ValidationFailed):
    """422: an integer longer than :data:`MAX_INT_DIGITS` digits."""

    code = "NUMBER_TOO_LARGE"


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NumberTooLarge(
            f"An integer has {len(text.lstrip('-'))} digits; at most {MAX_INT_DIGITS} are accepted."
        )
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NumberTooLarge(f"A number is out of range ({text[:20]}...).")
    return value


def _parse_constant(name: str) -> Any:
    raise MalformedJson(f"The request body is not valid JSON: {name} is not a JSON value.")


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` (UTF-8, -16 or -32 bytes, or text) within Junction's limits.

    Raises :class:`MalformedJson`, :class:`JsonTooDeep`, :class:`NumberTooLarge` or
    :class:`~app.errors.ValidationFailed` (unpaired surrogates, with the field paths): every one
    a :class:`~app.errors.JunctionError`, so it reaches the client as a problem document.
    """
    try:
        value = json.loads(
            raw,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except RecursionError:
        raise _too_deep(max_depth) from None
    except JunctionError:
        raise
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise MalformedJson(f"The request body is not valid JSON: {exc}") from None
    if _depth_exceeds(value, max_depth):
        raise _too_deep(max_depth)
    escapes = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if _SURROGATE_ESCAPE.search(escapes):  # cheap test first: paired escapes match it too
        bad = surrogate_paths(value)
        if bad:
            raise ValidationFailed(
                "Unpaired UTF-16 surrogates (\\ud800-\\udfff) are not accepted.",
                errors=[
                    field_error(
                        path, "Must not contain unpaired UTF-16 surrogates.", "invalid_unicode"
                    )
                    for path in bad
                ],
            )
    return value


def _too_deep(max_depth: int) -> JsonTooDeep:
    return JsonTooDeep(f"The JSON body is nested deeper than {max_depth} levels.")


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    # Iterative, so the check itself cannot overflow the stack.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def surrogate_paths(value: Any, path: str = "") -> list[str]:
    """Field paths (``a.b.0``) of strings or object keys holding unpaired surrogates; a path
    that holds one itself is escaped (it is echoed back to the client)."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                found.append(where)
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if _SURROGATE.search(str(key)):
                    found.append(child_path)
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{where}.{index}" if where else str(index))
                for index, child in enumerate(item)
            )
    return sorted({p.encode("utf-8", "backslashreplace").decode() for p in found})
