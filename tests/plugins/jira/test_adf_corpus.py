"""The HTML -> ADF corpus: every case converts to its reviewed output, valid against the schema."""

from __future__ import annotations

import os

import pytest

from plugins.jira.adf import validate_adf

from .adf_corpus_support import actual, corpus_names, expected, write_expected

# Uses neither the database nor Redis under test: CI's second pass skips it (see tests/conftest.py).
pytestmark = pytest.mark.backend_free

NAMES = corpus_names()


def test_corpus_has_at_least_40_cases() -> None:
    assert len(NAMES) >= 40


@pytest.mark.parametrize("name", NAMES)
def test_case_matches_reviewed_output_and_is_valid(name: str) -> None:
    result = actual(name)
    if os.environ.get("ADF_CORPUS_REGENERATE") == "1":
        write_expected(name, result)
    assert validate_adf(result["adf"]) == []
    assert result == expected(name)


@pytest.mark.parametrize("name", NAMES)
def test_reviewed_output_itself_is_valid(name: str) -> None:
    # The expected files are what the Atlassian validator test checks too: keep them valid.
    assert validate_adf(expected(name)["adf"]) == []
