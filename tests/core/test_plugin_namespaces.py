"""The namespace rule, enforced at load: every name a plugin owns carries the plugin's name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask_smorest import Blueprint

from app import operations
from app.db import db
from app.hookspecs import hookimpl
from app.namespaces import NamespaceError, check_name, owns
from app.testing import run_job
from tests.fixture_plugins import bad_table


def status(app: Flask, name: str) -> dict[str, Any]:
    plugins = app.test_client().get("/api/plugins").get_json()
    items = plugins["items"] if isinstance(plugins, dict) else plugins
    return next(item for item in items if item["name"] == name)


def blueprint_plugin(blueprint_name: str) -> type:
    class Plugin:
        @staticmethod
        @hookimpl
        def junction_blueprints(app: Flask) -> list[Blueprint]:
            blp = Blueprint(blueprint_name, __name__, url_prefix=f"/api/{blueprint_name}")

            @blp.get("/ping")
            @blp.response(200)
            def ping() -> dict[str, str]:
                return {"ok": "yes"}

            return [blp]

    return Plugin


class BadOperations:
    @staticmethod
    @hookimpl
    def junction_operations() -> dict[str, Any]:
        return {"alpha.fine": lambda ctx: None, "export_things": lambda ctx: None}


class BadSettings:
    @staticmethod
    @hookimpl
    def junction_settings() -> dict[str, Any]:
        return {"namespace": "shared", "fields": {"x": {"type": "int", "default": 1}}}


@pytest.mark.parametrize(
    ("name", "owned"),
    [
        ("planning", True),
        ("planning_sync_state", True),
        ("planning.import_cycle", True),
        ("planning:webhooks", True),
        ("planningx", False),
        ("plan", False),
        ("sync_planning", False),
        ("", False),
    ],
)
def test_the_rule(name: str, owned: bool) -> None:
    assert owns("planning", name) is owned


def test_check_name_says_which_name_breaks_it() -> None:
    with pytest.raises(NamespaceError, match=r"event channel 'greetings' of plugin 'hello'"):
        check_name("hello", "event channel", "greetings")
    check_name("hello", "event channel", "hello:greetings")


def test_a_blueprint_outside_the_namespace_fails_its_plugin(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        extra_plugins=[("alpha", blueprint_plugin("greetings")), ("beta", blueprint_plugin("beta"))]
    )
    alpha = status(app, "alpha")
    assert alpha["status"] == "failed"
    assert "namespace" in alpha["error"] and "blueprint 'greetings'" in alpha["error"]
    client = app.test_client()
    assert client.get("/api/greetings/ping").status_code == 404  # never registered
    assert status(app, "beta")["status"] == "loaded"
    assert client.get("/api/beta/ping").status_code == 200  # the app carries on


def test_an_operation_kind_outside_the_namespace_fails_its_plugin(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(extra_plugins=[("alpha", BadOperations)])
    alpha = status(app, "alpha")
    assert alpha["status"] == "failed"
    assert "operation kind 'export_things'" in alpha["error"]
    with app.app_context():
        known = operations.service.handlers()
    assert "export_things" not in known and "alpha.fine" not in known


def test_a_settings_namespace_outside_the_namespace_fails_its_plugin(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(extra_plugins=[("alpha", BadSettings)])
    alpha = status(app, "alpha")
    assert alpha["status"] == "failed"
    assert "settings namespace 'shared'" in alpha["error"]


@pytest.fixture
def forget_bad_table() -> Iterator[None]:
    yield
    # The fixture model must not linger in the metadata that other tests migrate and compare.
    table = db.metadata.tables.get("greetings")
    if table is not None:
        db.metadata.remove(table)


def test_a_table_outside_the_namespace_fails_its_plugin(
    make_app: Callable[..., Flask], forget_bad_table: None
) -> None:
    app = make_app(extra_plugins=[("badtable", bad_table)])
    info = status(app, "badtable")
    assert info["status"] == "failed"
    assert "table 'greetings' of plugin 'badtable'" in info["error"]
    assert app.test_client().get("/api/projects").status_code == 200


def test_job_ids_are_namespaced_by_the_scheduler(make_app: Callable[..., Flask]) -> None:
    class Jobs:
        @staticmethod
        @hookimpl
        def junction_jobs(scheduler: Any) -> None:
            scheduler.add(lambda: "ticked", seconds=60, id="tick")

    app = make_app(extra_plugins=[("alpha", Jobs)])
    # The plugin said "tick"; the job exists only under the plugin's name.
    assert run_job(app, "alpha.tick") == "ticked"
    with pytest.raises(KeyError):
        run_job(app, "tick")


def test_the_built_in_and_example_plugins_keep_the_rule(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert status(app, "planning")["status"] == "loaded"


def _publish_from(module: str, channel: str) -> int:
    """``events.publish(channel, ...)`` called by code whose module is ``module``."""
    from app import events

    scope: dict[str, Any] = {"__name__": module, "events": events, "channel": channel}
    exec("result = events.publish(channel, 'probe', {})", scope)
    return int(scope["result"])


def test_a_plugin_publishes_only_on_its_own_or_the_shared_channels(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    with app.app_context():
        assert _publish_from("hello_plugin.service", "hello:greetings") > 0
        assert _publish_from("hello_plugin.service", "projects") > 0  # the shared domain
        with pytest.raises(NamespaceError, match="event channel 'greetings' of plugin 'hello'"):
            _publish_from("hello_plugin.service", "greetings")
        with pytest.raises(NamespaceError, match="event channel 'planning' of plugin 'jira'"):
            _publish_from("plugins.jira.progress", "planning")
        # The core's own code and anything that is no plugin's (tests, scripts) may publish
        # anywhere: the rule is about what a plugin owns.
        assert _publish_from("app.operations.service", "operations") > 0
        assert _publish_from("tests.core.probe", "anything") > 0
