"""Plugins: discovery, enable/disable lists, failure isolation, plugin-added hookspecs, CLI."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask_smorest import Blueprint

from app.hookspecs import hookimpl, hookspec


def plugin_rows(app: Flask) -> dict[str, dict[str, Any]]:
    response = app.test_client().get("/api/plugins")
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return {item["name"]: item for item in body["items"]}


def make_blueprint_plugin(name: str) -> type[Any]:
    """A healthy plugin with an API route, a health check and a startup hook."""

    class Plugin:
        __version__ = "2.3.4"
        started: list[Flask] = []

        @staticmethod
        @hookimpl
        def junction_blueprints(app: Flask) -> list[Blueprint]:
            blp = Blueprint(name, __name__, url_prefix=f"/api/{name}")

            @blp.get("/ping")
            @blp.response(200)
            def ping() -> dict[str, str]:
                return {"plugin": name}

            return [blp]

        @staticmethod
        @hookimpl
        def junction_startup(app: Flask) -> None:
            Plugin.started.append(app)

    Plugin.__name__ = f"plugin_{name}"
    return Plugin


class BrokenBlueprints:
    """A plugin whose blueprint hook raises."""

    @staticmethod
    @hookimpl
    def junction_blueprints(app: Flask) -> list[Any]:
        raise RuntimeError("blueprints exploded")


def make_broken_startup(name: str) -> type:
    """A plugin that registers a route, then fails in ``junction_startup``."""

    class BrokenStartup:
        @staticmethod
        @hookimpl
        def junction_blueprints(app: Flask) -> list[Blueprint]:
            blp = Blueprint(name, __name__, url_prefix=f"/api/{name}")

            @blp.get("/ping")
            @blp.response(200)
            def ping() -> dict[str, str]:
                raise AssertionError("a failed plugin's view must not run")

            return [blp]

        @staticmethod
        @hookimpl
        def junction_startup(app: Flask) -> None:
            raise ValueError("startup exploded")

    return BrokenStartup


def test_a_healthy_plugin_is_listed_with_version_hooks_and_status(make_app) -> None:
    plugin = make_blueprint_plugin("alpha")
    app = make_app(extra_plugins=[("alpha", plugin)])
    row = plugin_rows(app)["alpha"]
    assert row["status"] == "loaded"
    assert row["error"] is None
    assert row["version"] == "2.3.4"
    assert row["hooks"] == ["junction_blueprints", "junction_startup"]
    assert plugin.started == [app]
    assert app.test_client().get("/api/alpha/ping").get_json() == {"plugin": "alpha"}
    # Registered through the Api, so it is in the OpenAPI document.
    assert "/api/alpha/ping" in app.test_client().get("/api/openapi.json").get_json()["paths"]


def test_a_plugin_failing_in_blueprints_is_isolated(make_app, project_dir: Path) -> None:
    app = make_app(
        extra_plugins=[("broken", BrokenBlueprints), ("alpha", make_blueprint_plugin("alpha"))]
    )
    rows = plugin_rows(app)
    assert rows["broken"]["status"] == "failed"
    assert "junction_blueprints" in rows["broken"]["error"]
    assert "blueprints exploded" in rows["broken"]["error"]
    assert rows["alpha"]["status"] == "loaded"
    client = app.test_client()
    assert client.get("/api/alpha/ping").status_code == 200
    created = client.post("/api/projects", json={"name": "p", "path": str(project_dir)})
    assert created.status_code == 201


def test_a_plugin_failing_at_startup_is_isolated_and_its_routes_refused(make_app) -> None:
    app = make_app(extra_plugins=[("late", make_broken_startup("late"))])
    row = plugin_rows(app)["late"]
    assert row["status"] == "failed"
    assert row["error"] == "junction_startup: ValueError: startup exploded"
    client = app.test_client()
    refused = client.get("/api/late/ping")
    assert refused.status_code == 503
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["code"] == "PLUGIN_FAILED"
    assert client.get("/api/projects").status_code == 200


def test_a_plugin_failing_later_hooks_gets_none_of_its_other_hooks_called(make_app) -> None:
    calls: list[str] = []

    class FailsHealth:
        @staticmethod
        @hookimpl
        def junction_health_checks() -> dict[str, Any]:
            raise RuntimeError("no checks today")

        @staticmethod
        @hookimpl
        def junction_startup(app: Flask) -> None:
            calls.append("startup")

    app = make_app(extra_plugins=[("flaky", FailsHealth)])
    assert plugin_rows(app)["flaky"]["status"] == "failed"
    assert calls == []  # unregistered at the first failure
    assert app.test_client().get("/readyz").status_code == 200


def test_enable_list_and_disable_list(make_app) -> None:
    extra = [("alpha", make_blueprint_plugin("alpha")), ("beta", make_blueprint_plugin("beta"))]
    app = make_app({"JUNCTION_PLUGINS": "alpha"}, extra_plugins=extra)
    rows = plugin_rows(app)
    assert rows["alpha"]["status"] == "loaded"
    assert rows["beta"]["status"] == "disabled"
    assert app.test_client().get("/api/beta/ping").status_code == 404

    extra = [("alpha", make_blueprint_plugin("alpha")), ("beta", make_blueprint_plugin("beta"))]
    app = make_app(
        {"JUNCTION_PLUGINS": "alpha,beta", "JUNCTION_DISABLED_PLUGINS": "alpha"},
        extra_plugins=extra,
    )
    rows = plugin_rows(app)
    assert rows["alpha"]["status"] == "disabled"  # the disable list wins
    assert rows["beta"]["status"] == "loaded"


def test_a_plugin_can_add_hookspecs_that_another_plugin_implements(make_app) -> None:
    specs = ModuleType("widget_specs")

    @hookspec
    def junction_widgets() -> list[str]:  # type: ignore[empty-body]  # pluggy never runs a spec
        """Widgets offered to the ``base`` plugin."""

    specs.junction_widgets = junction_widgets  # type: ignore[attr-defined]

    class Base:
        @staticmethod
        @hookimpl
        def junction_addhooks(pluginmanager: Any) -> None:
            pluginmanager.add_hookspecs(specs)

    class Extension:
        @staticmethod
        @hookimpl
        def junction_widgets() -> list[str]:
            return ["gear", "sprocket"]

    # The extension is registered before the plugin that declares its hook.
    app = make_app(extra_plugins=[("extension", Extension), ("base", Base)])
    rows = plugin_rows(app)
    assert rows["extension"]["status"] == "loaded", rows["extension"]
    assert rows["extension"]["hooks"] == ["junction_widgets"]
    assert rows["base"]["status"] == "loaded"
    registry = app.extensions["junction"].registry
    assert registry.pm.hook.junction_widgets() == [["gear", "sprocket"]]
    assert registry.call_each("junction_widgets") == [("extension", ["gear", "sprocket"])]


def test_implementing_an_undeclared_junction_hook_fails_only_that_plugin(make_app) -> None:
    class Typo:
        @staticmethod
        @hookimpl
        def junction_blueprint(app: Flask) -> list[Any]:  # missing "s"
            return []

    class AlsoTypo:
        @staticmethod
        @hookimpl
        def junction_startups(app: Flask) -> None:
            return None

    app = make_app(
        extra_plugins=[
            ("typo", Typo),
            ("also_typo", AlsoTypo),
            ("alpha", make_blueprint_plugin("alpha")),
        ]
    )
    rows = plugin_rows(app)
    assert rows["typo"]["status"] == "failed"
    assert "validating hooks" in rows["typo"]["error"]
    assert rows["also_typo"]["status"] == "failed"
    assert rows["alpha"]["status"] == "loaded"


def write_broken_distribution(root: Path, module: str) -> None:
    """An installed distribution whose ``junction.plugins`` entry point raises on import."""
    dist = root / "junction_broken_demo-0.9.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: junction-broken-demo\nVersion: 0.9.1\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[junction.plugins]\nbroken_demo = {module}\n", encoding="utf-8"
    )
    (root / f"{module}.py").write_text(
        textwrap.dedent(
            """
            raise ImportError("this plugin needs a library that is not installed")
            """
        ),
        encoding="utf-8",
    )


@pytest.fixture
def broken_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    module = f"junction_broken_demo_{tmp_path.name.replace('-', '_')}"
    site = tmp_path / "site"
    site.mkdir()
    write_broken_distribution(site, module)
    monkeypatch.syspath_prepend(str(site))
    yield module
    sys.modules.pop(module, None)


def test_an_entry_point_that_fails_to_import_is_reported_and_the_app_serves(
    make_app: Callable[..., Flask], broken_entry_point: str, project_dir: Path
) -> None:
    app = make_app()
    client = app.test_client()
    row = plugin_rows(app)["broken_demo"]
    assert row["status"] == "failed"
    assert row["version"] == "0.9.1"
    assert row["distribution"] == "junction-broken-demo"
    assert row["module"] == broken_entry_point
    assert row["error"].startswith("loading: ImportError: this plugin needs a library")
    assert (
        client.post("/api/projects", json={"name": "p", "path": str(project_dir)}).status_code
        == 201
    )
    listed = client.get("/api/projects").get_json()
    assert [item["name"] for item in listed["items"]] == ["p"]

    cli = app.test_cli_runner()
    table = cli.invoke(args=["junction", "plugins"])
    assert table.exit_code == 0, table.output
    line = next(line for line in table.output.splitlines() if line.startswith("broken_demo"))
    assert "failed" in line and "0.9.1" in line
    assert "error: loading: ImportError: this plugin needs a library" in table.output

    as_json = cli.invoke(args=["junction", "plugins", "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = {item["name"]: item for item in json.loads(as_json.output)}
    assert rows["broken_demo"]["status"] == "failed"


def test_cli_lists_hooks_of_loaded_plugins(make_app) -> None:
    app = make_app(extra_plugins=[("alpha", make_blueprint_plugin("alpha"))])
    result = app.test_cli_runner().invoke(args=["junction", "plugins"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("alpha"))
    assert "loaded" in line
    assert "hooks: junction_blueprints, junction_startup" in line
