"""Refuse regular expressions that could backtrack catastrophically (hint patterns).

Two checks at write time, since Python's ``re`` cannot be interrupted once it runs:

1. static: no nested unbounded quantifiers (``(a+)+``), no quantified group holding an
   alternation (``(a|ab)*``) and no back-references — the shapes behind exponential runs;
2. dynamic: the pattern is run in a child process against adversarial lines built from its own
   literals, and refused if that takes longer than a time budget (polynomial blow-ups such as
   ``.*.*.*x`` that the static check lets through).

Matching then runs line by line on lines of at most :data:`MAX_LINE` characters, the length the
probe used, so the budget measured here bounds the work per line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

# typeshed has no stubs for the private re._constants / re._parser (so the names are Any, and
# the fallback's typed modules may rebind them).
try:  # Python 3.11+: the parser is private; its names are stable across 3.11-3.13
    import re._constants as sre_c  # type: ignore[import-not-found]
    import re._parser as sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_constants as sre_c
    import sre_parse

MAX_LINE = 2000
PROBE_BUDGET_SECONDS = 1.0
_REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)}
_UNBOUNDED = sre_c.MAXREPEAT


class UnsafePattern(ValueError):
    """The pattern is invalid or may backtrack catastrophically; the message says why."""


def _walk(items: Any, in_repeat: bool) -> None:
    for op, av in items:
        if op in _REPEATS:
            _low, high, body = av
            if high == _UNBOUNDED or high > 1:
                if in_repeat and (high == _UNBOUNDED or high > 10):
                    raise UnsafePattern("nested quantifiers (such as (a+)+) are not allowed")
                _walk(body, True)
            else:
                _walk(body, in_repeat)
        elif op is sre_c.SUBPATTERN:
            _walk(av[-1], in_repeat)
        elif op is sre_c.BRANCH:
            if in_repeat:
                raise UnsafePattern("a quantified alternation (such as (a|ab)*) is not allowed")
            for branch in av[1]:
                _walk(branch, in_repeat)
        elif op in (sre_c.GROUPREF, getattr(sre_c, "GROUPREF_EXISTS", None)):
            raise UnsafePattern("back-references are not allowed")
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            _walk(av[1], in_repeat)


def _probe_alphabet(pattern: str) -> str:
    chars = {c for c in pattern if c.isprintable() and c not in "\\()[]{}|*+?^$."}
    return "".join(sorted(chars | {"a", "0", " ", "-", "\t"}))[:40]


_PROBE = """
import re, sys
pattern, alphabet, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rx = re.compile(pattern)
for c in alphabet:
    for line in (c * n, c * n + "!", (c + " ") * (n // 2), "x" + c * (n - 1)):
        rx.search(line)
rx.search(alphabet * (n // max(1, len(alphabet))))
"""


def check_pattern(pattern: str, budget: float = PROBE_BUDGET_SECONDS) -> re.Pattern[str]:
    """Compile ``pattern`` or raise :class:`UnsafePattern` saying why it is refused."""
    try:
        compiled = re.compile(pattern)
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafePattern(f"not a valid regular expression: {exc}") from None
    _walk(parsed, False)
    try:
        subprocess.run(
            [sys.executable, "-I", "-c", _PROBE, pattern, _probe_alphabet(pattern), str(MAX_LINE)],
            timeout=budget,
            check=True,
            capture_output=True,
        )
    except subprocess.TimeoutExpired:
        raise UnsafePattern(
            f"matching took longer than {budget:g} s on a {MAX_LINE}-character line "
            "(catastrophic backtracking); make the quantifiers less ambiguous"
        ) from None
    except subprocess.CalledProcessError as exc:
        raise UnsafePattern(f"the pattern could not be tried: {exc.stderr[-200:]!r}") from None
    return compiled


def search_lines(compiled: re.Pattern[str], text: str) -> bool:
    """Whether ``compiled`` matches any line of ``text`` (each cut to :data:`MAX_LINE`)."""
    return any(compiled.search(line[:MAX_LINE]) for line in text.splitlines())
