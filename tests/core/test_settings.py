"""Settings: declarations through the hook, scoped fallbacks, validation, secrets at rest."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.exc import IntegrityError

from app import settings
from app.db import db
from app.domain import service
from app.errors import NotFound, ValidationFailed
from app.hookspecs import hookimpl

SECRET = "sk_live_0123456789abcdefghijWXYZ"  # 31 characters


class DemoSettingsPlugin:
    """A test plugin declaring its settings the way a real plugin does."""

    @hookimpl
    def junction_settings(self) -> dict[str, Any]:
        return {
            "namespace": "demo",
            "fields": {
                "base_url": {"type": "str", "default": "https://demo.invalid", "scope": "global"},
                "api_key": {"type": "str", "secret": True, "help": "Token of the demo API."},
                "page_size": {"type": "int", "default": 50, "min": 1, "max": 500},
                "enabled": {"type": "bool", "default": False, "scope": "project"},
                "labels": {"type": "list", "default": []},
                "mode": {"type": "str", "default": "sync", "choices": ["sync", "async"]},
            },
        }


class BrokenSettingsPlugin:
    """Declares a field of an unknown type: the plugin fails, the app starts."""

    @hookimpl
    def junction_settings(self) -> dict[str, Any]:
        return {"namespace": "broken", "fields": {"x": {"type": "datetime"}}}


@pytest.fixture
def demo_app(make_app):
    return make_app(extra_plugins=[("demo", DemoSettingsPlugin())])


@pytest.fixture
def ctx(demo_app):
    with demo_app.app_context():
        yield demo_app


def _raw_rows(key: str) -> Sequence[sa.Row[Any]]:
    with db.engine.connect() as connection:
        return connection.execute(
            sa.select(settings.Setting.__table__).where(settings.Setting.key == key)
        ).all()


# -- declarations -------------------------------------------------------------------------------


def test_plugin_declares_settings_through_the_hook(demo_app):
    spec = demo_app.extensions["junction"].settings_specs["demo"]
    assert spec.plugin == "demo"
    assert spec.fields["api_key"].secret is True
    assert spec.fields["enabled"].scope == "project"
    with demo_app.app_context():
        described = {f["key"]: f for f in settings.describe("demo")}
    assert described["page_size"]["default"] == 50
    assert described["api_key"]["help"] == "Token of the demo API."


def test_invalid_declaration_fails_only_that_plugin(make_app):
    app = make_app(
        extra_plugins=[("broken", BrokenSettingsPlugin()), ("demo", DemoSettingsPlugin())]
    )
    infos = {info["name"]: info for info in app.extensions["junction"].registry.as_list()}
    assert infos["broken"]["status"] == "failed"
    assert "datetime" in infos["broken"]["error"]
    assert "broken" not in app.extensions["junction"].settings_specs
    assert "demo" in app.extensions["junction"].settings_specs


def test_declaration_rules():
    with pytest.raises(ValueError, match="secret fields must have type 'str'"):
        settings.parse_declaration(
            {"namespace": "x", "fields": {"n": {"type": "int", "secret": True}}}
        )
    with pytest.raises(ValueError, match="default: expected an integer"):
        settings.parse_declaration(
            {"namespace": "x", "fields": {"n": {"type": "int", "default": "5"}}}
        )
    with pytest.raises(ValueError, match="unknown attributes"):
        settings.parse_declaration({"namespace": "x", "fields": {"n": {"type": "int", "dflt": 5}}})


def test_junction_toml_table_gives_operator_defaults(make_app, tmp_path: Path):
    (tmp_path / "junction.toml").write_text('[demo]\npage_size = 200\nmode = "async"\n')
    app = make_app(instance_path=tmp_path, extra_plugins=[("demo", DemoSettingsPlugin())])
    with app.app_context():
        assert settings.get("demo", "page_size") == 200
        settings.set_values("demo", {"page_size": 10})
        assert settings.get("demo", "page_size") == 10  # a stored value beats the file


def test_invalid_junction_toml_default_fails_the_plugin(make_app, tmp_path: Path):
    (tmp_path / "junction.toml").write_text('[demo]\npage_size = "many"\n')
    app = make_app(instance_path=tmp_path, extra_plugins=[("demo", DemoSettingsPlugin())])
    infos = {info["name"]: info for info in app.extensions["junction"].registry.as_list()}
    assert infos["demo"]["status"] == "failed"
    assert "page_size" in infos["demo"]["error"]


# -- scopes and fallbacks -----------------------------------------------------------------------


def test_project_value_falls_back_to_global_then_default(ctx, project_dir):
    service.create_project("alpha", str(project_dir))
    service.create_project("beta", str(project_dir))

    assert settings.get("demo", "page_size") == 50
    assert settings.get("demo", "page_size", project="alpha") == 50  # default

    settings.set_values("demo", {"page_size": 100})
    assert settings.get("demo", "page_size", project="alpha") == 100  # global

    settings.set_values("demo", {"page_size": 7}, project="alpha")
    assert settings.get("demo", "page_size", project="alpha") == 7  # the project's own
    assert settings.get("demo", "page_size", project="beta") == 100
    assert settings.get("demo", "page_size") == 100

    settings.set_values("demo", {"page_size": None}, project="alpha")  # reset the override
    assert settings.get("demo", "page_size", project="alpha") == 100

    project_id = service.get_project("alpha").id
    assert settings.get("demo", "page_size", project=project_id) == 100  # by id too
    assert settings.get_all("demo", project="beta")["base_url"] == "https://demo.invalid"


def test_scopes_are_enforced(ctx, project_dir):
    service.create_project("alpha", str(project_dir))
    with pytest.raises(ValidationFailed) as excinfo:
        settings.set_values("demo", {"base_url": "https://x.invalid"}, project="alpha")
    assert excinfo.value.errors is not None
    assert excinfo.value.errors[0]["field"] == "base_url"
    assert excinfo.value.errors[0]["code"] == "scope"
    with pytest.raises(ValidationFailed) as excinfo:
        settings.set_values("demo", {"enabled": True})
    assert excinfo.value.errors is not None
    assert excinfo.value.errors[0]["field"] == "enabled"

    settings.set_values("demo", {"enabled": True}, project="alpha")
    assert settings.get("demo", "enabled", project="alpha") is True
    assert settings.get("demo", "enabled") is False  # per-project only: default globally


def test_unknown_namespace_key_and_project(ctx):
    with pytest.raises(NotFound):
        settings.get("nope", "x")
    with pytest.raises(NotFound):
        settings.get("demo", "nope")
    with pytest.raises(NotFound):
        settings.get("demo", "page_size", project="no-such-project")


def test_project_values_go_with_the_project(ctx, demo_app, project_dir):
    service.create_project("alpha", str(project_dir))
    settings.set_values("demo", {"page_size": 9, "api_key": SECRET}, project="alpha")
    settings.set_values("demo", {"page_size": 11})
    assert len(_raw_rows("page_size")) == 2

    response = demo_app.test_client().delete("/api/projects/alpha")
    assert response.status_code == 204

    rows = _raw_rows("page_size")
    assert [(row.project_id, json.loads(row.value)) for row in rows] == [(None, 11)]
    assert _raw_rows("api_key") == []


def test_one_global_row_per_key(ctx):
    settings.set_values("demo", {"page_size": 3})
    settings.set_values("demo", {"page_size": 4})  # an update, not a second row
    assert len(_raw_rows("page_size")) == 1
    # The partial unique index refuses a second global row even from plain SQL.
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(
            sa.insert(settings.Setting.__table__).values(
                namespace="demo",
                key="page_size",
                project_id=None,
                value="5",
                is_secret=False,
                encrypted=False,
                updated_at=sa.func.now(),
            )
        )


# -- validation ---------------------------------------------------------------------------------


def test_values_are_validated_against_their_declared_type(ctx):
    with pytest.raises(ValidationFailed) as excinfo:
        settings.set_values(
            "demo",
            {
                "page_size": "ten",
                "labels": ["ok", 3],
                "mode": "batch",
                "colour": "red",
                "base_url": "https://kept-out.invalid",
            },
        )
    assert excinfo.value.errors is not None
    errors = {e["field"]: e for e in excinfo.value.errors}
    assert set(errors) == {"page_size", "labels", "mode", "colour"}
    assert errors["page_size"]["message"] == "Expected an integer, got string."
    assert errors["colour"]["code"] == "unknown_field"
    assert "page_size" in excinfo.value.detail
    # Nothing was written: validation is all or nothing.
    assert settings.get("demo", "base_url") == "https://demo.invalid"

    with pytest.raises(ValidationFailed, match="at most 500"):
        settings.set_values("demo", {"page_size": 501})
    with pytest.raises(ValidationFailed, match="got boolean"):
        settings.set_values("demo", {"page_size": True})


def test_validation_error_of_a_secret_does_not_echo_it(ctx):
    with pytest.raises(ValidationFailed) as excinfo:
        settings.set_values("demo", {"api_key": 98765432123456789})
    assert "98765432123456789" not in json.dumps([excinfo.value.detail, excinfo.value.errors])


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        (SECRET, "sk_live_****WXYZ"),
        ("a" * 20 + "wxyz", "aaaaaaaa****wxyz"),  # 24: first 8 and last 4, 12 hidden
        ("b" * 19 + "wxyz", "****wxyz"),  # 23: last 4 only
        ("c" * 12 + "wxyz", "****wxyz"),  # 16
        ("shortsecret", "****"),  # under 16: nothing shown
        ("", None),
        (None, None),
    ],
)
def test_mask_secret(secret, masked):
    assert settings.mask_secret(secret) == masked


def test_public_view_masks_secrets(ctx, project_dir):
    service.create_project("alpha", str(project_dir))
    view = settings.public_view("demo")
    assert view["api_key_set"] is False and view["api_key_masked"] is None
    assert "api_key" not in view

    settings.set_values("demo", {"api_key": SECRET})
    view = settings.public_view("demo")
    assert view["api_key_set"] is True
    assert view["api_key_masked"] == "sk_live_****WXYZ"
    assert "api_key" not in view
    assert SECRET not in json.dumps(view)
    assert view["page_size"] == 50
    # The project sees the global secret through the fallback, still masked.
    assert settings.public_view("demo", project="alpha")["api_key_set"] is True
    # Server-side code reads it in clear.
    assert settings.get_all("demo")["api_key"] == SECRET


def test_masked_echo_keeps_the_secret(ctx):
    settings.set_values("demo", {"api_key": SECRET})
    view = settings.set_values("demo", {"api_key": "sk_live_****WXYZ", "page_size": 5})
    assert settings.get("demo", "api_key") == SECRET
    assert view["page_size"] == 5


def test_secrets_are_never_logged(ctx, caplog):
    with caplog.at_level(logging.DEBUG):
        settings.set_values("demo", {"api_key": SECRET, "page_size": 8})
        settings.get("demo", "api_key")
    assert "api_key" in caplog.text  # the change is logged by name...
    assert SECRET not in caplog.text  # ...never by value
    assert SECRET[8:-4] not in caplog.text


def test_without_secret_key_secrets_are_stored_as_given_and_readyz_warns(ctx, demo_app):
    settings.set_values("demo", {"api_key": SECRET})
    (row,) = _raw_rows("api_key")
    assert row.is_secret is True and row.encrypted is False
    assert json.loads(row.value) == SECRET

    response = demo_app.test_client().get("/readyz")
    check = response.get_json()["checks"]["secrets"]
    assert response.status_code == 200, response.get_json()
    assert check["status"] == "ok"
    assert "JUNCTION_SECRET_KEY is not set" in check["detail"]
    assert SECRET not in response.get_data(as_text=True)


def test_with_secret_key_secrets_are_encrypted_at_rest(make_app):
    app = make_app(
        {"JUNCTION_SECRET_KEY": "key-one-" + "x" * 24},
        extra_plugins=[("demo", DemoSettingsPlugin())],
    )
    with app.app_context():
        settings.set_values("demo", {"api_key": SECRET, "page_size": 12})
        (row,) = _raw_rows("api_key")
        assert row.encrypted is True
        assert SECRET not in row.value and SECRET[8:-4] not in row.value
        # It is a Fernet token under the HKDF-derived key, not an encoding of the clear text.
        fernet = Fernet(settings.derive_fernet_key("key-one-" + "x" * 24))
        assert json.loads(fernet.decrypt(row.value.encode())) == SECRET
        # Non-secret values stay readable JSON.
        (plain,) = _raw_rows("page_size")
        assert plain.encrypted is False and json.loads(plain.value) == 12
        assert settings.get("demo", "api_key") == SECRET

    detail = app.test_client().get("/readyz").get_json()["checks"]["secrets"]["detail"]
    assert detail == "secret settings encrypted at rest (Fernet)"


def test_secret_stored_with_another_key_is_a_clear_error(make_app):
    plugins = [("demo", DemoSettingsPlugin())]
    first = make_app({"JUNCTION_SECRET_KEY": "the-first-key-" + "a" * 20}, extra_plugins=plugins)
    with first.app_context():
        settings.set_values("demo", {"api_key": SECRET})

    second = make_app({"JUNCTION_SECRET_KEY": "the-other-key-" + "b" * 20}, extra_plugins=plugins)
    with second.app_context():
        with pytest.raises(settings.SecretUnreadable) as excinfo:
            settings.get("demo", "api_key")
        assert "demo.api_key" in excinfo.value.detail
        assert "another key" in excinfo.value.detail
        assert excinfo.value.code == "SECRET_UNREADABLE"
        # The public view still answers; the secret shows as set but unreadable.
        view = settings.public_view("demo")
        assert view["api_key_set"] is True and view["api_key_masked"] is None
        # Setting it again under the current key repairs it.
        settings.set_values("demo", {"api_key": "a-new-secret-value-0000"})
        assert settings.get("demo", "api_key") == "a-new-secret-value-0000"

    without_key = make_app(extra_plugins=plugins)
    with without_key.app_context(), pytest.raises(settings.SecretUnreadable, match="not set"):
        settings.get("demo", "api_key")


def test_readyz_warns_about_unreadable_secrets_without_failing(make_app):
    plugins = [("demo", DemoSettingsPlugin())]
    first = make_app({"JUNCTION_SECRET_KEY": "k1-" + "a" * 30}, extra_plugins=plugins)
    with first.app_context():
        settings.set_values("demo", {"api_key": SECRET})
    second = make_app({"JUNCTION_SECRET_KEY": "k2-" + "b" * 30}, extra_plugins=plugins)
    response = second.test_client().get("/readyz")
    check = response.get_json()["checks"]["secrets"]
    assert check["status"] == "ok"
    assert "cannot be decrypted" in check["detail"] and "demo.api_key" in check["detail"]


def test_reencrypt_secrets_after_the_key_is_configured(make_app):
    plugins = [("demo", DemoSettingsPlugin())]
    plain = make_app(extra_plugins=plugins)
    with plain.app_context():
        settings.set_values("demo", {"api_key": SECRET})
    keyed = make_app({"JUNCTION_SECRET_KEY": "k3-" + "c" * 30}, extra_plugins=plugins)
    detail = keyed.test_client().get("/readyz").get_json()["checks"]["secrets"]["detail"]
    assert "stored before the key was set" in detail
    with keyed.app_context():
        assert settings.get("demo", "api_key") == SECRET  # still readable meanwhile
        assert settings.reencrypt_secrets() == 1
        (row,) = _raw_rows("api_key")
        assert row.encrypted is True and SECRET not in row.value
        assert settings.get("demo", "api_key") == SECRET
