"""Configuration: defaults, then ``instance/junction.toml``, then ``JUNCTION_*``; bad ones stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.config import KEYS, ConfigError, load_config
from app.db import db


def write_toml(instance: Path, text: str) -> None:
    (instance / "junction.toml").write_text(text, encoding="utf-8")


def test_defaults_put_the_sqlite_database_in_the_instance_folder(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'junction.db'}"
    assert config["LOG_LEVEL"] == "info"
    assert config["API_TOKENS"] == []
    assert config["PLUGINS"] is None
    assert config["MAX_CONTENT_LENGTH"] == 10 * 1024 * 1024
    assert set(config) == {key.name for key in KEYS}


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        """
        [junction]
        log_level = "debug"
        max_content_length = 2048
        api_tokens = ["from-file"]
        scheduler = "off"

        [planning]  # a plugin's table: not a core key, left alone
        workspace = "x"
        """,
    )
    config = load_config(
        tmp_path, environ={"JUNCTION_MAX_CONTENT_LENGTH": "4096", "OTHER": "ignored"}
    )
    assert config["LOG_LEVEL"] == "debug"  # file
    assert config["API_TOKENS"] == ["from-file"]  # file, a TOML list
    assert config["MAX_CONTENT_LENGTH"] == 4096  # environment beats file
    assert config["SCHEDULER"] == "off"
    overridden = load_config(
        tmp_path,
        environ={"JUNCTION_MAX_CONTENT_LENGTH": "4096"},
        overrides={"max_content_length": 1},
    )
    assert overridden["MAX_CONTENT_LENGTH"] == 1  # explicit overrides beat everything


def test_top_level_keys_work_without_a_junction_table(tmp_path: Path) -> None:
    write_toml(tmp_path, 'log_format = "json"\nsql_echo = true\n')
    config = load_config(tmp_path, environ={})
    assert config["LOG_FORMAT"] == "json"
    assert config["SQL_ECHO"] is True


def test_environment_lists_and_booleans_are_parsed(tmp_path: Path) -> None:
    config = load_config(
        tmp_path,
        environ={
            "JUNCTION_API_TOKENS": " a , b,,c ",
            "JUNCTION_DISABLED_PLUGINS": "jira",
            "JUNCTION_SQL_ECHO": "yes",
            "JUNCTION_LOG_LEVEL": "WARNING",
        },
    )
    assert config["API_TOKENS"] == ["a", "b", "c"]
    assert config["DISABLED_PLUGINS"] == ["jira"]
    assert config["SQL_ECHO"] is True
    assert config["LOG_LEVEL"] == "warning"


def test_an_empty_environment_variable_means_unset(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={"JUNCTION_DATABASE_URL": "", "JUNCTION_LOG_LEVEL": " "})
    assert config["DATABASE_URL"].startswith("sqlite:///")
    assert config["LOG_LEVEL"] == "info"


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"JUNCTION_MAX_CONTENT_LENGTH": "ten"}, ["JUNCTION_MAX_CONTENT_LENGTH", "integer"]),
        ({"JUNCTION_MAX_CONTENT_LENGTH": "-5"}, ["JUNCTION_MAX_CONTENT_LENGTH", "positive"]),
        ({"JUNCTION_LOG_LEVEL": "loud"}, ["JUNCTION_LOG_LEVEL", "debug, info, warning, error"]),
        ({"JUNCTION_SCHEDULER": "sometimes"}, ["JUNCTION_SCHEDULER", "auto, on, off"]),
        ({"JUNCTION_SQL_ECHO": "maybe"}, ["JUNCTION_SQL_ECHO", "boolean"]),
    ],
)
def test_a_bad_environment_value_stops_start_up_naming_the_key(
    tmp_path: Path, environ: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app(instance_path=tmp_path, environ=environ)
    message = str(caught.value)
    for name in names:
        assert name in message
    assert "environment" in message


def test_bad_toml_stops_start_up_naming_the_file(tmp_path: Path) -> None:
    write_toml(tmp_path, "[junction\nlog_level = 'info'\n")
    with pytest.raises(ConfigError, match=r"junction\.toml: not valid TOML"):
        create_app(instance_path=tmp_path, environ={})


def test_an_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    write_toml(tmp_path, "[junction]\nlog_levle = 'debug'\n")
    with pytest.raises(ConfigError, match=r"unknown configuration key 'LOG_LEVLE'"):
        create_app(instance_path=tmp_path, environ={})


def test_a_bad_value_in_the_file_names_key_and_file(tmp_path: Path) -> None:
    write_toml(tmp_path, "[junction]\nidempotency_ttl = 'a day'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={})
    assert "junction.toml" in str(caught.value)
    assert "JUNCTION_IDEMPOTENCY_TTL" in str(caught.value)
    assert "idempotency_ttl" in str(caught.value)


def test_an_unknown_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NOT_A_KEY"):
        load_config(tmp_path, environ={}, overrides={"not_a_key": 1})


def test_junction_instance_path_sets_the_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "elsewhere"
    instance.mkdir()
    write_toml(instance, "[junction]\nmax_content_length = 1234\n")
    app = create_app(
        environ={
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
        }
    )
    try:
        assert Path(app.instance_path) == instance.resolve()
        state = app.extensions["junction"]
        assert state.instance_path == instance.resolve()
        assert app.config["JUNCTION_MAX_CONTENT_LENGTH"] == 1234  # read from that folder's file
        assert app.config["MAX_CONTENT_LENGTH"] == 1234
        assert (
            app.config["JUNCTION_DATABASE_URL"] == f"sqlite:///{instance.resolve() / 'junction.db'}"
        )
    finally:
        with app.app_context():
            db.engine.dispose()


def test_config_command_masks_secrets(make_app) -> None:
    app = make_app(
        {"JUNCTION_API_TOKENS": "super-secret-token", "JUNCTION_SECRET_KEY": "another-secret"}
    )
    result = app.test_cli_runner().invoke(args=["junction", "config"])
    assert result.exit_code == 0, result.output
    assert "JUNCTION_API_TOKENS" in result.output
    assert "super-secret-token" not in result.output
    assert "another-secret" not in result.output
    assert "****" in result.output


def test_keys_land_in_app_config_flat_and_the_app_is_named_after_its_package(
    make_app, instance_dir
) -> None:
    import app as app_package

    app = make_app({"JUNCTION_EVENTS_QUEUE_SIZE": 7, "IDEMPOTENCY_TTL": 60})
    assert app.config["JUNCTION_EVENTS_QUEUE_SIZE"] == 7  # the flat name
    assert app.config["JUNCTION_IDEMPOTENCY_TTL"] == 60  # the file's name is accepted too
    assert app.config["JUNCTION_EVENTS_PRUNE_INTERVAL"] == 300  # every key, defaults included
    assert "JUNCTION" not in app.config and "JSON_SORT_KEYS" not in app.config
    assert app.import_name == "app"
    assert Path(app.root_path) == Path(app_package.__file__).resolve().parent
    assert Path(app.instance_path) == instance_dir.resolve()
    assert app.extensions["junction"].instance_path == instance_dir.resolve()


def test_overrides_refuse_unknown_flat_names(tmp_path) -> None:
    with pytest.raises(ConfigError, match="NOT_A_KEY"):
        load_config(tmp_path, environ={}, overrides={"JUNCTION_NOT_A_KEY": 1})
