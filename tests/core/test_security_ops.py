"""Operator-facing errors (issue 8, point 10): /readyz details for operators only, CLI errors
as JSON problems with exit 1, a missing database named with its fix."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.core.security_http import call, serving
from tests.support import ROOT, VENV_BIN, pg_server_url

TOKEN = "tok-ops-0123456789abcdef"


class SecretCountingCheck:
    """A plugin whose readiness detail is operational (like a scheduler's pid)."""

    from app.hookspecs import hookimpl

    @hookimpl
    def junction_health_checks(self) -> dict[str, Callable[[], str]]:
        return {"leader": lambda: "leader pid 4242", "broken": self._fail}

    @staticmethod
    def _fail() -> str:
        raise RuntimeError("queue at /srv/private/queue unreachable")


def test_readyz_without_a_token_shows_only_status_and_failing_names(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app({"API_TOKENS": TOKEN}, extra_plugins=[("ops", SecretCountingCheck())])
    with serving(app) as port:
        anonymous = call(port, "GET", "/readyz")
        wrong = call(port, "GET", "/readyz", headers={"Authorization": "Bearer nope"})
        operator = call(port, "GET", "/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    for reply in (anonymous, wrong):
        assert reply.status == 503
        assert reply.json() == {"status": "failing", "failing": ["ops.broken"]}
        assert b"4242" not in reply.body and b"/srv/private" not in reply.body
    body = operator.json()
    assert body["failing"] == ["ops.broken"]
    assert body["checks"]["ops.leader"]["detail"] == "leader pid 4242"
    assert "secrets" in body["checks"]


def test_readyz_in_loopback_mode_shows_details_to_direct_local_clients_only(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(extra_plugins=[("ops", SecretCountingCheck())])
    with serving(app) as port:
        local = call(port, "GET", "/readyz")
        forwarded = call(port, "GET", "/readyz", headers={"X-Real-IP": "203.0.113.7"})
    assert "checks" in local.json()
    assert forwarded.json() == {"status": "failing", "failing": ["ops.broken"]}


def test_a_cli_error_is_a_json_problem_on_stderr_with_exit_1(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["junction", "operations", "show", "no-such-operation"])
    assert result.exit_code == 1, result.output
    problem = json.loads(result.stderr)
    assert problem["code"] == "NOT_FOUND" and problem["status"] == 404
    assert problem["detail"] and "Traceback" not in result.output
    usage = runner.invoke(args=["junction", "operations", "show"])
    assert usage.exit_code == 2 and "Usage" in usage.stderr


def _db_upgrade(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUNCTION_")} | {
        "JUNCTION_DATABASE_URL": url,
        "JUNCTION_INSTANCE_PATH": str(tmp_path),
        "JUNCTION_SCHEDULER": "off",
    }
    return subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "junction", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_against_a_missing_postgres_database_says_how_to_fix_it(
    tmp_path: Path,
) -> None:
    server = pg_server_url()
    if not server:
        pytest.skip("needs JUNCTION_TEST_DATABASE_URL (PostgreSQL)")
    name = f"junction_missing_{uuid.uuid4().hex[:8]}"
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    result = _db_upgrade(url, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    problem = json.loads(result.stderr.strip().splitlines()[-1])
    assert problem["code"] == "DATABASE_MISSING"
    assert name in problem["detail"] and "createdb" in problem["detail"]


def test_db_upgrade_against_an_unusable_sqlite_path_says_what_is_wrong(tmp_path: Path) -> None:
    result = _db_upgrade(f"sqlite:///{tmp_path}/no/such/dir/junction.db", tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    problem = json.loads(result.stderr.strip().splitlines()[-1])
    assert problem["code"] == "DATABASE_UNAVAILABLE"
    assert "JUNCTION_DATABASE_URL" in problem["detail"]
