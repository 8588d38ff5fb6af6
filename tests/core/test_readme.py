"""The README's configuration table and the example config file document every key."""

from __future__ import annotations

import re
from pathlib import Path

from app.cli import config_markdown
from app.config import ENV_PREFIX, KEYS, load_config

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = ROOT / "instance" / "junction.example.toml"
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, f"README.md lacks the {START} ... {END} markers"
    return text.split(START, 1)[1].split(END, 1)[0].strip() + "\n"


def test_every_config_key_is_in_the_readme_table():
    rows = re.findall(r"^\| `(JUNCTION_[A-Z0-9_]+)` \|", _readme_table(), re.MULTILINE)
    missing = [f"{ENV_PREFIX}{key.name}" for key in KEYS if f"{ENV_PREFIX}{key.name}" not in rows]
    assert not missing, (
        f"README.md's configuration table lacks {missing}; regenerate it with "
        "`junction config --markdown`"
    )
    unknown = sorted(set(rows) - {f"{ENV_PREFIX}{key.name}" for key in KEYS})
    assert not unknown, f"README.md documents keys that do not exist: {unknown}"


def test_readme_table_is_the_generated_one():
    assert _readme_table() == config_markdown(), (
        "README.md's configuration table is out of date; replace it with the output of "
        "`junction config --markdown`:\n" + config_markdown()
    )


def test_example_config_names_every_key_and_every_value_is_valid(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    names = {key.name.lower() for key in KEYS}
    commented = dict(re.findall(r"^# ([a-z_]+) = (.*)$", text, re.MULTILINE))
    missing = sorted(names - set(commented))
    assert not missing, f"instance/junction.example.toml lacks {missing}"

    # Uncomment every key line of the [junction] table: the file must load as it stands.
    junction_part = text.split("# -- plugin settings defaults", 1)[0]
    enabled = re.sub(r"^# ([a-z_]+ = .*)$", r"\1", junction_part, flags=re.MULTILINE)
    (tmp_path / "junction.toml").write_text(enabled, encoding="utf-8")
    config = load_config(tmp_path, environ={})
    # Keys with a real default are shown with that default, so the file does not mislead.
    wrong = {
        key.name: (config[key.name], key.default)
        for key in KEYS
        if key.default not in (None, []) and config[key.name] != key.default
    }
    assert not wrong, f"example shows values other than the defaults: {wrong}"
