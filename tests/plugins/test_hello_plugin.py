"""The example third-party plugin (examples/hello_plugin), installed through its entry point.

These tests are also the model for a plugin author's own: they use the fixtures of
``app.testing`` (``junction_app``, ``junction_client``...), which pytest loads through the
``pytest11`` entry point of the ``junction`` distribution.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import hello_plugin
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from hello_plugin import jobs, service

from app import settings
from app.db import db
from app.errors import ValidationFailed
from app.migrate import alembic_config, current_heads, expected_heads
from app.scheduler import list_jobs
from app.testing import invoke, migration_drift, run_job

HOOKS = [
    "junction_agent_teams",  # optional: the agents plugin's hook (its team "hello")
    "junction_blueprints",
    "junction_cli",
    "junction_console_panels",
    "junction_health_checks",
    "junction_jobs",
    "junction_migrations",
    "junction_settings",
]


@pytest.fixture
def junction_plugins() -> list[str]:
    """Load the hello plugin alone (the fixture app.testing's junction_app reads)."""
    return ["hello"]


def greet(client, name: str, **extra):
    response = client.post("/api/hello/greetings", json={"name": name, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# -- installation ------------------------------------------------------------------------------


def test_registered_through_its_entry_point():
    (entry_point,) = metadata.entry_points(group="junction.plugins", name="hello")
    assert entry_point.value == "hello_plugin"
    assert entry_point.dist is not None
    assert entry_point.dist.metadata["Name"] == "junction-hello-plugin"
    assert entry_point.load() is hello_plugin


def test_listed_by_api_plugins_with_version_and_hooks(junction_client):
    items = {item["name"]: item for item in junction_client.get("/api/plugins").get_json()["items"]}
    hello = items["hello"]
    assert hello["status"] == "loaded", hello["error"]
    assert hello["version"] == metadata.version("junction-hello-plugin") == hello_plugin.__version__
    assert hello["distribution"] == "junction-hello-plugin"
    assert hello["module"] == "hello_plugin"
    assert hello["hooks"] == HOOKS


def test_listed_by_the_plugins_command(junction_runner):
    result = invoke(junction_runner, "plugins")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("hello ")]
    assert "loaded" in line and hello_plugin.__version__ in line and "junction_jobs" in line


# -- migrations --------------------------------------------------------------------------------


def test_session_database_includes_the_plugin_branch(app):
    """tests/conftest.py migrates the session database with ``upgrade heads``: the installed
    plugin's branch comes along without anyone asking for it."""
    with app.app_context():
        assert "hello_0001" in expected_heads()
        assert "hello_0001" in current_heads()
        assert "hello_greetings" in sa.inspect(db.engine).get_table_names()


def test_migration_branch_depends_on_the_core(junction_app):
    with junction_app.app_context():
        script = ScriptDirectory.from_config(alembic_config())
        folder = Path(hello_plugin.junction_migrations())
        ours = [rev for rev in script.walk_revisions() if Path(rev.path).parent == folder]
        (first,) = [rev for rev in ours if rev.down_revision is None]
        assert first.revision == "hello_0001"
        assert first.branch_labels == {"hello"}
        assert first.dependencies == "core_0001"
        assert script.get_revision("hello@head") in ours


def test_migrations_match_the_models(junction_app):
    assert migration_drift(junction_app, "hello_") == []


def test_branch_downgrades_alone_and_upgrades_again(junction_app):
    with junction_app.app_context():
        downgrade(revision="hello@base")
        tables = set(sa.inspect(db.engine).get_table_names())
        assert "hello_greetings" not in tables
        assert "projects" in tables  # the core's schema is untouched
        upgrade(revision="heads")
        assert "hello_greetings" in sa.inspect(db.engine).get_table_names()


# -- the API -----------------------------------------------------------------------------------


def test_create_get_and_list_greetings(junction_client):
    ada = greet(junction_client, "  Ada  ")
    assert ada["name"] == "Ada"
    assert ada["message"] == "Hello, Ada!"
    assert ada["delivered"] is False and ada["delivered_at"] is None
    grace = greet(junction_client, "Grace", message="Hi Grace")

    assert junction_client.get(f"/api/hello/greetings/{ada['id']}").get_json() == ada

    page = junction_client.get("/api/hello/greetings?limit=1&offset=1").get_json()
    assert page["total"] == 2 and page["limit"] == 1 and page["offset"] == 1
    assert [item["id"] for item in page["items"]] == [ada["id"]]  # newest first
    first = junction_client.get("/api/hello/greetings").get_json()
    assert [item["message"] for item in first["items"]] == ["Hi Grace", "Hello, Ada!"]
    assert grace["id"] > ada["id"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "name", None),
        ({"name": ""}, "name", None),
        ({"name": "   "}, "name", "blank"),
        ({"name": "x" * 101}, "name", None),
        ({"name": "Ada", "message": ""}, "message", None),
        ({"name": "Ada", "colour": "blue"}, "colour", None),
    ],
)
def test_bad_input_is_a_problem_and_writes_nothing(junction_client, body, field, code):
    response = junction_client.post("/api/hello/greetings", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "VALIDATION_ERROR"
    assert field in [error["field"] for error in problem["errors"]]
    if code:
        assert code in [error["code"] for error in problem["errors"]]
    assert junction_client.get("/api/hello/greetings").get_json()["total"] == 0


def test_unknown_greeting_and_bad_paging_are_problems(junction_client):
    missing = junction_client.get("/api/hello/greetings/999")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    assert missing.get_json()["detail"] == "No greeting 999."
    bad_limit = junction_client.get("/api/hello/greetings?limit=0")
    assert bad_limit.status_code == 422
    assert bad_limit.mimetype == "application/problem+json"


def test_routes_are_in_the_openapi_document(junction_client):
    spec = junction_client.get("/api/openapi.json").get_json()
    assert set(spec["paths"]["/api/hello/greetings"]) >= {"get", "post"}
    assert "get" in spec["paths"]["/api/hello/greetings/{greeting_id}"]
    assert {"HelloGreeting", "HelloGreetingCreate"} <= set(spec["components"]["schemas"])


def test_default_message_comes_from_the_greeting_setting(junction_app, junction_client):
    with junction_app.app_context():
        assert settings.get("hello", "greeting") == "Hello, {name}!"
        settings.set_values("hello", {"greeting": "Good morning, {name}."})
        with pytest.raises(ValidationFailed):
            settings.set_values("hello", {"batch_size": 0})  # below the declared min
    assert greet(junction_client, "Ada")["message"] == "Good morning, Ada."


def test_setting_can_make_the_message_too_long(junction_app, junction_client):
    with junction_app.app_context():
        settings.set_values("hello", {"greeting": "x" * 450 + "{name}"})
    response = junction_client.post("/api/hello/greetings", json={"name": "y" * 60})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "message"


# -- the job -----------------------------------------------------------------------------------


def test_job_is_declared_with_the_plugin_prefix(junction_app):
    (job,) = [job for job in list_jobs(junction_app) if job["owner"] == "hello"]
    assert job["id"] == "hello.deliver"
    assert job["seconds"] == 30
    assert job["func"] == "hello_plugin.jobs:deliver_greetings"


def test_job_delivers_pending_greetings(junction_app, junction_client):
    ada = greet(junction_client, "Ada")
    greet(junction_client, "Grace")

    assert run_job(junction_app, "hello.deliver") == 2  # through the scheduler, as the leader
    assert run_job(junction_app, "hello.deliver") == 0  # nothing left: delivery happens once

    delivered = junction_client.get(f"/api/hello/greetings/{ada['id']}").get_json()
    assert delivered["delivered"] is True and delivered["delivered_at"]
    pending = junction_client.get("/api/hello/greetings?delivered=false").get_json()
    assert pending["total"] == 0


def test_job_function_directly_in_batches(junction_app, junction_client):
    for name in ("Ada", "Grace", "Linus"):
        greet(junction_client, name)
    with junction_app.app_context():
        settings.set_values("hello", {"batch_size": 2})
        assert service.counts() == {"total": 3, "pending": 3}
        assert jobs.deliver_greetings() == 2
        assert service.counts() == {"total": 3, "pending": 1}
        assert jobs.deliver_greetings() == 1


def test_job_run_by_the_cli(junction_runner, junction_client):
    greet(junction_client, "Ada")
    result = invoke(junction_runner, "jobs", "run", "hello.deliver")
    assert result.exit_code == 0, result.output
    assert "hello.deliver: success" in result.output
    assert junction_client.get("/api/hello/greetings?delivered=true").get_json()["total"] == 1


# -- the CLI command and the health check -------------------------------------------------------


def test_cli_greet_creates_a_greeting(junction_runner, junction_client):
    result = invoke(junction_runner, "hello", "greet", "Grace", "--message", "Hi!")
    assert result.exit_code == 0, result.output
    (item,) = junction_client.get("/api/hello/greetings").get_json()["items"]
    assert result.output.strip() == f"greeting {item['id']}: Hi!"
    assert item["name"] == "Grace"


def test_cli_greet_reports_bad_input(junction_runner, junction_client):
    result = junction_runner.invoke(args=["junction", "hello", "greet", "   "])
    assert result.exit_code == 1
    assert "name must not be blank" in result.output
    assert junction_client.get("/api/hello/greetings").get_json()["total"] == 0


def test_health_check_in_readyz(junction_client):
    greet(junction_client, "Ada")
    body = junction_client.get("/readyz").get_json()
    assert body["checks"]["hello.greetings"] == {
        "status": "ok",
        "detail": "1 greeting(s), 1 pending",
        "duration_ms": body["checks"]["hello.greetings"]["duration_ms"],
    }


def test_health_check_fails_without_its_table(junction_app, junction_client):
    with junction_app.app_context():
        downgrade(revision="hello@base")
    response = junction_client.get("/readyz")
    assert response.status_code == 503
    assert "hello.greetings" in response.get_json()["failing"]


# -- disabling ---------------------------------------------------------------------------------


def test_disabled_plugin_has_no_routes_jobs_commands_or_checks(junction_make_app):
    app = junction_make_app(environ={"JUNCTION_DISABLED_PLUGINS": "hello"}, migrate=False)
    client = app.test_client()

    assert client.get("/api/hello/greetings").status_code == 404
    assert client.post("/api/hello/greetings", json={"name": "Ada"}).status_code == 404
    assert "/api/hello/greetings" not in client.get("/api/openapi.json").get_json()["paths"]
    items = {item["name"]: item for item in client.get("/api/plugins").get_json()["items"]}
    assert items["hello"]["status"] == "disabled"
    assert items["hello"]["hooks"] == []
    assert not [job for job in list_jobs(app) if job["owner"] == "hello"]
    result = invoke(app.test_cli_runner(), "hello", "greet", "Ada")
    assert result.exit_code != 0 and "No such command" in result.output


# -- events ------------------------------------------------------------------------------------


def test_changes_are_published_on_the_plugins_channel(junction_app, junction_client):
    ada = greet(junction_client, "Ada")
    run_job(junction_app, "hello.deliver")
    page = junction_client.get("/api/events?channel=hello:greetings").get_json()
    assert [(item["type"], item["data"]) for item in page["items"]] == [
        ("greeting.created", {"id": ada["id"], "name": "Ada"}),
        ("greeting.delivered", {"count": 1}),
    ]


def test_console_panel(junction_client):
    # The model panel of docs/plugins.md, section 15: rendered in the frame, its form CSRF-checked.
    page = junction_client.get("/console/hello/")
    assert page.status_code == 200
    assert "Greetings" in page.get_data(as_text=True)
    assert junction_client.post("/console/hello/greet", data={"name": "Ada"}).status_code == 403
