"""A queue item's dictionary form: what ``dataclasses.asdict`` gives, as a copy."""

from __future__ import annotations

import dataclasses

import pytest

from plugins.builds.queue_base import QueueItem

pytestmark = pytest.mark.backend_free


def test_as_dict_matches_asdict_and_is_a_copy() -> None:
    """Every field, recipes included; changing the dictionary leaves the item alone, and
    ``from_dict`` gives the item back."""
    item = QueueItem(
        id="i1",
        package="numpy",
        version="2.0",
        python_tag="cp312",
        platform_tag="linux_s390x",
        recipes={"pre": ["apt-get install gfortran"], "env": ["CFLAGS=-O2"]},
        enqueued_at=1.5,
        attempts=2,
        leased_until=9.0,
        available_at=1.5,
    )
    data = item.as_dict()
    assert data == dataclasses.asdict(item)
    data["recipes"]["pre"].append("changed")
    data["recipes"]["new"] = []
    data["attempts"] = 7
    assert item.recipes == {"pre": ["apt-get install gfortran"], "env": ["CFLAGS=-O2"]}
    assert item.attempts == 2
    assert QueueItem.from_dict(item.as_dict()) == item


def test_copy_is_equal_and_independent() -> None:
    """A copy equals the item; changing its recipes or fields leaves the item alone."""
    item = QueueItem(id="i1", package="p", version="1", recipes={"pre": ["a"]}, attempts=1)
    copy = item.copy()
    assert copy == item and copy is not item
    copy.recipes["pre"].append("b")
    copy.attempts = 5
    assert item.recipes == {"pre": ["a"]} and item.attempts == 1
