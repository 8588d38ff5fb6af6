"""The HTML -> ADF corpus: `adf_corpus/NAME.html` inputs and `NAME.json` expected outputs.

Each expected file holds `{"adf": ..., "warning_codes": [...]}`. After a deliberate change to
the converter, rewrite them with `ADF_CORPUS_REGENERATE=1 .venv/bin/python -m pytest
tests/plugins/jira/test_adf_corpus.py` and review the diff before committing it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plugins.jira.adf import html_to_adf

CORPUS = Path(__file__).parent / "adf_corpus"


def corpus_names() -> list[str]:
    """The case names, sorted."""
    return sorted(p.stem for p in CORPUS.glob("*.html"))


def read_html(name: str) -> str:
    """The HTML input of case `name`."""
    return (CORPUS / f"{name}.html").read_text(encoding="utf-8")


def actual(name: str) -> dict[str, Any]:
    """The converter's output for case `name`, in the expected-file shape."""
    result = html_to_adf(read_html(name))
    return {"adf": result.adf, "warning_codes": sorted({w.code for w in result.warnings})}


def expected(name: str) -> dict[str, Any]:
    """The reviewed output of case `name`."""
    return json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))


def write_expected(name: str, value: dict[str, Any]) -> None:
    """Store `value` as the expected output of case `name`."""
    text = json.dumps(value, indent=1, ensure_ascii=False) + "\n"
    (CORPUS / f"{name}.json").write_text(text, encoding="utf-8")
