"""Logging: dictConfig, text and JSON formats, request id and plugin on every record, redaction."""

from __future__ import annotations

import io
import json
import logging
import sys
import types
from collections.abc import Iterator

import pytest
from flask import Blueprint

from app import observability, redaction
from app.hookspecs import hookimpl

PLUGIN_MODULE = "tests.core.sample_logging_plugin"
SECRET = "sekrit-token-0123456789"


def _sample_plugin() -> types.ModuleType:
    """A plugin module named like a third-party package, with a blueprint that logs."""
    module = types.ModuleType(PLUGIN_MODULE)
    log = logging.getLogger(PLUGIN_MODULE)
    core_log = logging.getLogger("app.something")
    blueprint = Blueprint("sample", PLUGIN_MODULE, url_prefix="/api/sample")

    @blueprint.get("/log")
    def write_logs() -> dict[str, str]:
        log.info("plugin says hello")
        log.warning("calling upstream with Authorization: Bearer %s", SECRET)
        core_log.info("core helper called from the plugin's view")
        return {"ok": "yes"}

    @blueprint.get("/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError(f"upstream refused token={SECRET}")

    def junction_blueprints(app):
        return [blueprint]

    setattr(module, "junction_blueprints", hookimpl(junction_blueprints))  # noqa: B010
    return module


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The log output as a buffer: apps built meanwhile log there; restored afterwards."""
    stream = io.StringIO()
    monkeypatch.setattr(observability, "DEFAULT_STREAM", stream)
    yield stream
    observability.configure_logging("warning", "text", stream=sys.stderr)


def _json_lines(stream: io.StringIO) -> list[dict]:
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # every line must be one JSON object


def test_json_format_labels_every_record_with_request_id_and_plugin(make_app, log_stream):
    app = make_app(
        {"JUNCTION_LOG_FORMAT": "json", "JUNCTION_LOG_LEVEL": "info"},
        extra_plugins=[("sample", _sample_plugin())],
    )
    response = app.test_client().get("/api/sample/log", headers={"X-Request-ID": "req-json-1"})
    assert response.status_code == 200
    logging.getLogger(PLUGIN_MODULE).info("outside any request")
    logging.getLogger("app.jobs").info("core job ran")

    records = _json_lines(log_stream)
    for record in records:
        assert {"ts", "level", "logger", "message", "request_id", "plugin"} <= record.keys()
    by_message = {record["message"]: record for record in records}

    hello = by_message["plugin says hello"]
    assert (hello["request_id"], hello["plugin"], hello["level"]) == (
        "req-json-1",
        "sample",
        "info",
    )
    # A core logger used inside the plugin's request is attributed to the plugin it served.
    helper = by_message["core helper called from the plugin's view"]
    assert (helper["request_id"], helper["plugin"]) == ("req-json-1", "sample")
    # Outside a request the logger's module still names the plugin; core stays core.
    assert by_message["outside any request"]["request_id"] == "-"
    assert by_message["outside any request"]["plugin"] == "sample"
    assert by_message["core job ran"]["plugin"] == "core"


def test_text_format_carries_plugin_and_request_id(make_app, log_stream):
    app = make_app(
        {"JUNCTION_LOG_FORMAT": "text", "JUNCTION_LOG_LEVEL": "info"},
        extra_plugins=[("sample", _sample_plugin())],
    )
    app.test_client().get("/api/sample/log", headers={"X-Request-ID": "req-text-1"})
    lines = [line for line in log_stream.getvalue().splitlines() if "plugin says hello" in line]
    assert len(lines) == 1
    assert f"INFO [sample] [req-text-1] {PLUGIN_MODULE}: plugin says hello" in lines[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_bearer_tokens_and_query_tokens_are_redacted(make_app, log_stream, fmt):
    app = make_app(
        {"JUNCTION_LOG_FORMAT": fmt, "JUNCTION_LOG_LEVEL": "info"},
        extra_plugins=[("sample", _sample_plugin())],
    )
    client = app.test_client()
    assert client.get("/api/sample/log").status_code == 200
    # An unexpected error is logged with its traceback; the token in the message goes too.
    response = client.get("/api/sample/boom")
    assert response.status_code == 500
    assert SECRET not in response.get_data(as_text=True)

    output = log_stream.getvalue()
    assert "calling upstream with Authorization: Bearer ***" in output
    assert "token=***" in output  # in the traceback of the 500
    assert SECRET not in output


def test_redact_covers_the_usual_credential_spellings():
    text = (
        "Authorization: Bearer abc.def-ghi x-api-key=k123 "
        "GET /ws/stream?access_token=t0k&channel=x password=hunter2"
    )
    cleaned = redaction.redact(text)
    for secret in ("abc.def-ghi", "k123", "t0k", "hunter2"):
        assert secret not in cleaned
    assert "channel=x" in cleaned  # other parameters stay readable


def test_configure_logging_is_dictconfig_and_does_not_stack_handlers(log_stream):
    for _ in range(3):
        observability.configure_logging("info", "json")
    ours = [h for h in logging.getLogger().handlers if isinstance(h, observability.JunctionHandler)]
    assert len(ours) == 1
    logging.getLogger("app.once").info("only once")
    assert log_stream.getvalue().count("only once") == 1


def test_readiness_probes_do_not_fill_the_log(make_app, log_stream):
    app = make_app({"JUNCTION_LOG_FORMAT": "json", "JUNCTION_LOG_LEVEL": "info"})
    client = app.test_client()
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    logging.getLogger("alembic.runtime.migration").info("outside a request: kept")
    messages = [record["message"] for record in _json_lines(log_stream)]
    assert [m for m in messages if "alembic" in m or "Context impl" in m] == []
    assert "outside a request: kept" in messages


def test_redaction_keeps_the_scheme_and_header_names():
    assert redaction.redact("Authorization: Bearer abc123") == "Authorization: Bearer ***"
    assert redaction.redact("authorization=Basic dXNlcjpwYXNz") == "authorization=Basic ***"
    assert redaction.redact("X-Worker-Token: w0rk3r") == "X-Worker-Token: ***"
    assert redaction.redact("nothing secret here") == "nothing secret here"
