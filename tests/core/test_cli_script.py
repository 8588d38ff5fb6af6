"""The ``junction`` console script, run as an operator runs it: a real installed executable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _script(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is not installed; run `make setup` (pip install -e .)")
    return path


def _env(instance: Path) -> dict[str, str]:
    # The developer's own JUNCTION_* variables must not leak into the child.
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUNCTION_")}
    env.update(
        JUNCTION_INSTANCE_PATH=str(instance),
        JUNCTION_SCHEDULER="off",
        JUNCTION_LOG_LEVEL="warning",
        JUNCTION_API_TOKENS="script-test-token-123",
    )
    return env


def _run(args: list[str], instance: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(instance), capture_output=True, text=True, timeout=60
    )


def test_help_lists_the_operator_commands(tmp_path: Path) -> None:
    result = _run([str(_script("junction")), "--help"], tmp_path / "instance", tmp_path)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:", 1)[1]
    names = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert {"db", "worker", "plugins", "jobs", "operations", "config", "planning"} <= names
    assert "junction" not in names  # the group is served at the top level, not nested


def test_config_runs_against_the_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "junction.toml").write_text("[junction]\nidempotency_ttl = 4321\n")
    result = _run([str(_script("junction")), "config"], instance, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"sqlite:///{instance.resolve() / 'junction.db'}" in result.stdout
    assert "JUNCTION_IDEMPOTENCY_TTL" in result.stdout and "4321" in result.stdout
    assert "script-test-token-123" not in result.stdout  # secrets masked


def test_db_upgrade_then_current_through_the_script(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    junction = str(_script("junction"))
    upgrade = _run([junction, "db", "upgrade"], instance, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "at heads:" in upgrade.stdout  # Junction's db group, not Flask-Migrate's
    current = _run([junction, "db", "current"], instance, tmp_path)
    assert current.returncode == 0, current.stdout + current.stderr
    assert "up to date" in current.stdout


def test_the_flask_form_keeps_working(tmp_path: Path) -> None:
    result = _run(
        [str(_script("flask")), "--app", "wsgi", "junction", "config"], tmp_path / "inst", ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "JUNCTION_DATABASE_URL" in result.stdout
