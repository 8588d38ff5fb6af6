"""Every hook of app/hookspecs.py is documented, in its docstring and in docs/plugins.md.

Like Datasette's ``test_plugin_hooks_are_documented``: adding a hook without documenting it,
or leaving the guide describing a hook that no longer exists, fails here. The guide documents
each hook under a heading of exactly its name, with its arguments, its return value and an
example implementation whose signature the hook accepts.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app import hookspecs
from app.plugins import PluginRegistry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
HEADING = re.compile(r"^(#{1,6})\s+`?(junction_\w+)`?\s*$", re.MULTILINE)
ANY_HEADING = re.compile(r"^#{1,6}\s", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPEC_ATTR = f"{hookspecs.PROJECT_NAME}_spec"


def _hook_functions() -> dict[str, Callable[..., Any]]:
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("junction_") and function.__module__ == hookspecs.__name__
    }


HOOKS = {name: fn for name, fn in _hook_functions().items() if hasattr(fn, SPEC_ATTR)}


def _doc_sections() -> dict[str, str]:
    """``{hook name: text under its heading}`` for every heading that names a hook."""
    text = DOCS.read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    for match in HEADING.finditer(text):
        following = ANY_HEADING.search(text, match.end())
        body = text[match.end() : following.start() if following else len(text)]
        assert match.group(2) not in sections, f"{match.group(2)} has two headings"
        sections[match.group(2)] = body
    return sections


SECTIONS = _doc_sections()


def test_hooks_are_found():
    # Guards the tests below against passing because they found nothing to check.
    assert {"junction_blueprints", "junction_migrations", "junction_cli"} <= set(HOOKS)
    assert set(HOOKS) == set(PluginRegistry().pm.hook.__dict__) & set(_hook_functions())


@pytest.mark.parametrize("name", sorted(_hook_functions()))
def test_every_junction_function_is_a_hookspec(name):
    assert hasattr(_hook_functions()[name], SPEC_ATTR), f"{name} lacks the @hookspec marker"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_has_a_docstring(name):
    doc = inspect.getdoc(HOOKS[name])
    assert doc and len(doc.split()) >= 8, f"{name} in app/hookspecs.py needs a real docstring"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_has_a_heading_in_the_guide(name):
    assert name in SECTIONS, f"docs/plugins.md needs a heading '### {name}'"


def test_guide_documents_no_unknown_hook():
    unknown = sorted(set(SECTIONS) - set(HOOKS))
    assert not unknown, f"docs/plugins.md documents hooks app/hookspecs.py lacks: {unknown}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_section_gives_arguments_return_value_and_example(name):
    section = SECTIONS.get(name)
    if section is None:
        pytest.skip("no heading (reported by test_hook_has_a_heading_in_the_guide)")
    assert "**Arguments:**" in section, f"{name}: say which arguments it takes"
    assert "**Returns:**" in section, f"{name}: say what it returns"
    spec_args = list(inspect.signature(HOOKS[name]).parameters)
    for arg in spec_args:
        assert f"`{arg}`" in section, f"{name}: argument `{arg}` is not described"

    examples = [
        node
        for block in PYTHON_BLOCK.findall(section)
        for node in ast.walk(ast.parse(block))
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    assert examples, f"{name}: give an example implementation (a ```python block)"
    for example in examples:
        assert any(
            (isinstance(d, ast.Name) and d.id == "hookimpl")
            or (isinstance(d, ast.Attribute) and d.attr == "hookimpl")
            for d in example.decorator_list
        ), f"{name}: the example must be decorated with @hookimpl"
        # pluggy lets an implementation take a subset of the spec's arguments, never others.
        used = [arg.arg for arg in example.args.args]
        assert set(used) <= set(spec_args), f"{name}: example takes {used}, spec {spec_args}"
