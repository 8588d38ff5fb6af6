"""Settings stored in the database, declared by plugins, scoped globally or per project.

Each plugin declares its settings with the ``junction_settings()`` hook::

    {"namespace": "planning",
     "fields": {"base_url": {"type": "str", "default": "", "scope": "global", "help": "..."},
                "api_key": {"type": "str", "secret": True, "scope": "both", "help": "..."}}}

A value is looked up in this order: the project's value (for a project-scoped read), the global
value, the ``[<namespace>]`` table of ``instance/junction.toml``, the declared default. Secret
values are encrypted at rest with Fernet when ``JUNCTION_SECRET_KEY`` is set; they are never
returned by :func:`public_view` (a masked form and a ``<key>_set`` flag instead) and never
logged. See ``docs/settings.md``.

The package, by concern: :mod:`~app.settings.declarations` (what a plugin declares, value
checks), :mod:`~app.settings.model` (the table), :mod:`~app.settings.store` (encryption and
reads), :mod:`~app.settings.writes`, :mod:`~app.settings.rotation` (secrets at rest) and
:mod:`~app.settings.startup`. Every public name is re-exported here: ``from app import
settings; settings.get(...)`` is the API.
"""

from __future__ import annotations

from app.settings.declarations import (
    FIELD_ATTRIBUTES,
    SCOPES,
    TYPES,
    FieldSpec,
    NamespaceSpec,
    SecretUnreadable,
    mask_secret,
    parse_declaration,
)
from app.settings.model import Setting
from app.settings.rotation import reencrypt_secrets, rotate_secrets, secrets_check
from app.settings.startup import init_app, register
from app.settings.store import (
    _crypto,
    describe,
    get,
    get_all,
    namespace_spec,
    public_view,
    specs,
)
from app.settings.writes import set_values
from app.settings_crypto import derive_fernet_key

__all__ = [
    "FIELD_ATTRIBUTES",
    "SCOPES",
    "TYPES",
    "FieldSpec",
    "NamespaceSpec",
    "SecretUnreadable",
    "Setting",
    "_crypto",
    "derive_fernet_key",
    "describe",
    "get",
    "get_all",
    "init_app",
    "mask_secret",
    "namespace_spec",
    "parse_declaration",
    "public_view",
    "reencrypt_secrets",
    "register",
    "rotate_secrets",
    "secrets_check",
    "set_values",
    "specs",
]
