"""Configuration: built-in defaults, then ``instance/junction.toml``, then ``JUNCTION_*``.

Every key is declared once in :data:`KEYS` with its type, default and help text. The README's
configuration table is generated from the same list (``junction config --markdown``), so a key
cannot exist without documentation. A value that does not parse stops start-up with a
:class:`ConfigError` naming the key and where it came from.

The validated values land in ``app.config`` as flat ``JUNCTION_<NAME>`` keys (see
:func:`flask_config`), the way Flask extensions keep theirs: every reader uses
``current_app.config["JUNCTION_<NAME>"]``, and a test or an embedding application may change
one on a built app the same way.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.hosts import normalise_pattern

ENV_PREFIX = "JUNCTION_"
CONFIG_FILE = "junction.toml"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _to_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    else:
        items = [part.strip() for part in str(value).split(",")]
    return [item for item in items if item]


def _to_str(value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value)


def _host_patterns(value: Any) -> list[str]:
    return [normalise_pattern(item) for item in _to_list(value)]


def _non_negative(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        number = parse(value)
        if number < 0:
            raise ValueError(f"expected zero or a positive number, got {value!r}")
        return number

    return check


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return text

    return parse


def _positive(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        number = parse(value)
        if number <= 0:
            raise ValueError(f"expected a positive number, got {value!r}")
        return number

    return check


@dataclass(frozen=True)
class Key:
    """One configuration key: its name (without prefix), parser, default and help text."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    secret: bool = False


KEYS: tuple[Key, ...] = (
    Key("DATABASE_URL", _to_str, None, "SQLAlchemy URL; default SQLite `instance/junction.db`."),
    Key("REDIS_URL", _to_str, None, "Redis URL: cross-process events and shared rate limits."),
    Key("SECRET_KEY", _to_str, None, "Encrypts stored secrets (Fernet key material).", True),
    Key(
        "SECRET_KEY_FALLBACKS",
        _to_list,
        [],
        "Comma-separated previous secret keys, still accepted for reading stored secrets "
        "until `junction secrets rotate` re-encrypts them with the current key.",
        True,
    ),
    Key("API_TOKENS", _to_list, [], "Comma-separated bearer tokens; unset: loopback only.", True),
    Key("PLUGINS", _to_list, None, "Enable list of plugin names; unset: every installed plugin."),
    Key("DISABLED_PLUGINS", _to_list, [], "Plugin names never loaded."),
    Key("LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info", "Log level."),
    Key("LOG_FORMAT", _choice("text", "json"), "text", "`json` writes one JSON object a line."),
    Key(
        "METRICS_FLUSH_SECONDS",
        _positive(_to_float),
        1.0,
        "Seconds between moves of each worker's request counts into `/metrics`.",
    ),
    Key("SCHEDULER", _choice("auto", "on", "off"), "auto", "Run the leader-elected scheduler."),
    Key("MAX_CONTENT_LENGTH", _positive(_to_int), 10 * 1024 * 1024, "Request body limit (bytes)."),
    Key("IDEMPOTENCY_TTL", _positive(_to_int), 86400, "Seconds an Idempotency-Key is kept."),
    Key(
        "EVENTS_NOTIFIER",
        _choice("auto", "memory", "local", "redis", "postgres"),
        "auto",
        "Event wake-up.",
    ),
    Key("EVENTS_RETENTION_SECONDS", _positive(_to_int), 7 * 86400, "Event log age limit."),
    Key("EVENTS_RETENTION_COUNT", _positive(_to_int), 100_000, "Event log size limit per channel."),
    Key(
        "ALLOWED_HOSTS",
        _host_patterns,
        [],
        "Host names this server answers to besides loopback (`name`, `.domain` = it and its "
        "subdomains, `*.domain` = subdomains, `*`); checked always without tokens, with tokens "
        "when set.",
    ),
    Key(
        "TRUSTED_PROXIES",
        _non_negative(_to_int),
        0,
        "Reverse proxies in front of Junction (hops); their `X-Forwarded-*` are applied "
        "(Werkzeug ProxyFix). 0: every proxy header marks a request as forwarded.",
    ),
    Key(
        "ALLOWED_ORIGINS",
        _to_list,
        [],
        "Extra browser Origins (`https://host:port`) allowed to write and open streams.",
    ),
    Key("EVENTS_HEARTBEAT_SECONDS", _positive(_to_float), 25.0, "Stream heartbeat interval."),
    Key("EVENTS_QUEUE_SIZE", _positive(_to_int), 100, "Events buffered per stream subscriber."),
    Key("EVENTS_POLL_SECONDS", _positive(_to_float), 1.0, "Event log safety-net poll interval."),
    Key(
        "EVENTS_WS_RESUME_WAIT",
        _positive(_to_float),
        1.0,
        "Seconds a WebSocket waits for the client's first `last_event_id` message.",
    ),
    Key("EVENTS_REDIS_CHANNEL", _to_str, "junction:events", "Redis pub/sub channel of wake-ups."),
    Key("EVENTS_PG_CHANNEL", _to_str, "junction_events", "PostgreSQL NOTIFY channel of wake-ups."),
    Key("EVENTS_PRUNE_INTERVAL", _positive(_to_int), 300, "Seconds between event-log pruning."),
    Key(
        "STREAMS_MAX_PER_WORKER",
        _non_negative(_to_int),
        None,
        "Concurrent WebSocket/SSE streams per worker process (past it: 503 with Retry-After); "
        "unset: the worker's threads less a quarter (at least one) kept for plain requests.",
    ),
    Key("OPERATION_LEASE_SECONDS", _positive(_to_int), 30, "Lease of a running operation."),
    Key(
        "OPERATION_RUNNERS",
        _choice("auto", "off"),
        "auto",
        "`off`: this process never runs operations (leave them to dedicated runners).",
    ),
    Key("SCHEDULER_MISFIRE_GRACE", _positive(_to_int), 30, "Seconds a late job run may start."),
    Key(
        "SCHEDULER_ELECTION_INTERVAL",
        _positive(_to_float),
        1.0,
        "Seconds between leader-election attempts.",
    ),
    Key("SQL_ECHO", _to_bool, False, "Log every SQL statement."),
    Key(
        "CONSOLE_SESSION_SECONDS",
        _positive(_to_int),
        8 * 3600,
        "Seconds a web console sign-in lasts (its cookie's expiry).",
    ),
)

KEYS_BY_NAME: dict[str, Key] = {key.name: key for key in KEYS}


def default_instance_path() -> Path:
    """The ``instance/`` folder beside the checkout's ``app`` package."""
    return Path(__file__).resolve().parent.parent / "instance"


def load_config(
    instance_path: Path,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Resolve every key: defaults, then ``junction.toml``, then the environment, then overrides.

    ``overrides`` (used by tests and :func:`app.create_app`) take the flat ``app.config`` names
    (``JUNCTION_API_TOKENS``) or the file's names (``API_TOKENS``). Unknown keys are refused so
    a typo does not silently fall back to a default.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {key.name: key.default for key in KEYS}
    values["DATABASE_URL"] = f"sqlite:///{instance_path / 'junction.db'}"

    file_path = instance_path / CONFIG_FILE
    if file_path.is_file():
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path}: not valid TOML: {exc}") from exc
        section = data.get("junction", data)
        for raw_name, raw in section.items():
            if isinstance(raw, dict):
                # Tables other than [junction] belong to plugins (their settings defaults).
                continue
            _apply(values, raw_name.upper(), raw, f"{file_path}")

    for env_name, raw in environ.items():
        if env_name.startswith(ENV_PREFIX) and env_name[len(ENV_PREFIX) :] in KEYS_BY_NAME:
            if not raw.strip():
                # ``JUNCTION_X=`` (as compose files and shells leave it) means "not set".
                continue
            _apply(values, env_name[len(ENV_PREFIX) :], raw, "environment")

    for name, raw in (overrides or {}).items():
        _apply(values, _bare(name), raw, "overrides")
    return values


def config_name(name: str) -> str:
    """The ``app.config`` (and environment) name of key ``name``: ``JUNCTION_<NAME>``."""
    return f"{ENV_PREFIX}{name}"


def flask_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (as :func:`load_config` returns them) as flat ``JUNCTION_<NAME>`` keys."""
    return {config_name(name): value for name, value in values.items()}


def _bare(name: str) -> str:
    name = name.upper()
    return name[len(ENV_PREFIX) :] if name.startswith(ENV_PREFIX) else name


def _apply(values: dict[str, Any], name: str, raw: Any, source: str) -> None:
    key = KEYS_BY_NAME.get(name)
    if key is None:
        raise ConfigError(f"{source}: unknown configuration key {name!r}")
    if raw is None:
        values[name] = None
        return
    try:
        values[name] = key.parse(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{source}: invalid value for {ENV_PREFIX}{name} ({name.lower()}): {exc}"
        ) from exc
