"""What the element converters (:mod:`.code`, :mod:`.lists`, :mod:`.tables`) need of the
converter that drives them: its warnings, the list depth so far, and the walk back into it.

:class:`.convert.Converter` is the one implementation; the element converters take this
protocol so that they do not import the module that imports them.
"""

from __future__ import annotations

from typing import Protocol

from .blocks import Blocks
from .marks import Marks
from .result import WarningLog
from .tree import Element


class Walker(Protocol):
    """One conversion in progress, as the element converters see it."""

    warnings: WarningLog
    list_depth: int

    def walk(self, el: Element, b: Blocks, marks: Marks) -> None:
        """Convert one element into ``b``."""
        ...

    def walk_children(self, element: Element, b: Blocks, marks: Marks) -> None:
        """Convert the children of ``element`` into ``b``."""
        ...

    def add_text(self, text: str, b: Blocks, marks: Marks) -> None:
        """Add a text node's characters to the inline flow of ``b``."""
        ...
