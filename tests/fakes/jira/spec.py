"""The contract checks of the fake Jira: Atlassian's OpenAPI documents and the ADF JSON schema.

The documents are vendored in ``spec/`` (Apache-2.0, see ``spec/NOTICE``), gzip-compressed, and
loaded once per process. Known defects of the published documents are patched at load, each with
a comment saying what is wrong; everything else is checked as published, with ``openapi-core``
for requests (parameters and bodies, not security: the fake authenticates itself) and responses
(the fake's own answers, so a drift of the fake from the documents shows too), and with
``jsonschema``'s Draft 4 validator for ADF (the schema is draft-04).
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import SecurityValidationError

SPEC_DIR = Path(__file__).with_name("spec")
# Atlassian's documents name this host in ``servers``; requests are checked as if sent there.
SPEC_HOST = "https://your-domain.atlassian.net"
ATTACHMENTS = "/rest/api/3/issue/{issueIdOrKey}/attachments"


def _read(name: str) -> dict[str, Any]:
    with gzip.open(SPEC_DIR / name, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def _param(operation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in operation["parameters"] if p["name"] == name)


def _patch_platform(spec: dict[str, Any]) -> dict[str, Any]:
    paths = spec["paths"]
    # Defect: addAttachment declares its multipart body as a bare array of MultipartFile, which
    # no multipart body can be (a form is an object of parts). Jira reads the parts named
    # ``file`` (jira-api.md 1.5): model exactly that.
    paths[ATTACHMENTS]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"] = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "format": "binary"},
            }
        },
    }
    # Defect: getMyPermissions documents ``permissions`` as optional, but Jira answers 400
    # without it (jira-api.md 1.6 and 4, caveat 5).
    _param(paths["/rest/api/3/mypermissions"]["get"], "permissions")["required"] = True
    # Gap: ``query=`` (empty) is how clients list every assignable user (a prefix that matches
    # all); OpenAPI 3.0 refuses empty query values unless ``allowEmptyValue`` is declared.
    for path in ("/rest/api/3/user/assignable/search", "/rest/api/3/user/search"):
        _param(paths[path]["get"], "query")["allowEmptyValue"] = True
    # Defect: assignIssue's own description says ``{"accountId": null}`` unassigns, but its
    # body schema (``User``) does not allow a null ``accountId``.
    user = copy.deepcopy(spec["components"]["schemas"]["User"])
    user["properties"]["accountId"]["nullable"] = True
    assignee = paths["/rest/api/3/issue/{issueIdOrKey}/assignee"]["put"]["requestBody"]
    assignee["content"]["application/json"]["schema"] = user
    return spec


def _patch_agile(spec: dict[str, Any]) -> dict[str, Any]:
    paths = spec["paths"]
    # Defect: ``type`` of getAllBoards and ``state`` of getAllSprints are declared as
    # ``{type: object}``; Jira takes comma-separated strings (``type=scrum``,
    # ``state=active,future``), as the parameters' own descriptions say (caveat 4).
    _param(paths["/rest/agile/1.0/board"]["get"], "type")["schema"] = {"type": "string"}
    _param(paths["/rest/agile/1.0/board/{boardId}/sprint"]["get"], "state")["schema"] = {
        "type": "string"
    }
    return spec


@functools.cache
def documents() -> dict[str, dict[str, Any]]:
    """The two documents as patched dicts: ``{"platform": ..., "agile": ...}`` (read once)."""
    return {
        "platform": _patch_platform(_read("jira-platform-openapi.json.gz")),
        "agile": _patch_agile(_read("jira-software-openapi.json.gz")),
    }


@functools.cache
def platform_api() -> OpenAPI:
    """The Jira Cloud platform REST v3 document (``/rest/api/3``), patched, loaded once."""
    # The document fails openapi-spec-validator (an enum whose default is "", caveat 1).
    return OpenAPI.from_dict(documents()["platform"], config=Config(spec_validator_cls=None))


@functools.cache
def agile_api() -> OpenAPI:
    """The Jira Software Cloud document (``/rest/agile/1.0``), patched, loaded once."""
    return OpenAPI.from_dict(documents()["agile"], config=Config(spec_validator_cls=None))


def spec_versions() -> dict[str, str]:
    """``info.version`` of each vendored document (pinned: a refresh shows in the diff)."""
    return {name: doc["info"]["version"] for name, doc in documents().items()}


def _api_for(path: str) -> OpenAPI | None:
    if path.startswith("/rest/api/3/"):
        return platform_api()
    if path.startswith("/rest/agile/1.0/"):
        return agile_api()
    return None


def _messages(error: BaseException) -> list[str]:
    """Readable reasons from an openapi-core error and its causes."""
    found: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for schema_error in getattr(current, "schema_errors", None) or ():
            where = "/".join(str(p) for p in schema_error.absolute_path)
            found.append(f"{where}: {schema_error.message}" if where else schema_error.message)
        current = current.__cause__ or current.__context__
    return found or [str(error)]


class ContractError(Exception):
    """A request the published documents do not allow; ``kind`` says which check failed."""

    def __init__(self, kind: str, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.kind, self.messages = kind, messages


def _mock(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    content_type: str | None,
) -> MockRequest:
    return MockRequest(
        SPEC_HOST,
        method.lower(),
        path,
        # A list of pairs keeps a repeated query parameter (?id=1&id=2): MockRequest hands it to
        # werkzeug's ImmutableMultiDict, which takes pairs, though it annotates a dict.
        args=list(query),  # type: ignore[arg-type]
        headers=headers,
        data=body or None,
        content_type=content_type or "application/json",
    )


def check_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    content_type: str | None,
) -> None:
    """Raise :class:`ContractError` unless the request is allowed by the documents."""
    api = _api_for(path)
    if api is None:
        raise ContractError("openapi", [f"{path} is not a Jira REST path"])
    request = _mock(method, path, query, headers, body, content_type)
    with warnings.catch_warnings():
        # The OAuth2 scheme is not supported by openapi-core; harmless (caveat 3).
        warnings.simplefilter("ignore")
        try:
            api.validate_request(request)
        except (PathNotFound, OperationNotFound) as exc:
            raise ContractError("unknown-endpoint", [str(exc)]) from exc
        except SecurityValidationError:
            return  # authentication is the fake's own job (Basic email:token)
        except Exception as exc:  # openapi-core's validation errors share no useful base
            raise ContractError("openapi", _messages(exc)) from exc


def check_response(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    status: int,
    body: bytes,
) -> list[str]:
    """Where the fake's own answer departs from the documents (empty when it does not)."""
    api = _api_for(path)
    if api is None or not body:
        return []
    request = _mock(method, path, query, {}, b"", None)
    response = MockResponse(body, status_code=status, content_type="application/json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            api.validate_response(request, response)
        except (ResponseNotFound, PathNotFound, OperationNotFound):
            return []  # undocumented statuses (429, 503) have nothing to check against
        except Exception as exc:
            return _messages(exc)
    return []


# -- ADF --------------------------------------------------------------------------------------
# Schemes Atlassian's runtime validator accepts for link hrefs (its ``safeUrl``); a relative URL
# (no scheme) is safe too. The JSON schema cannot say this; Jira's editor refuses the rest.
SAFE_SCHEMES = frozenset(
    {"http", "https", "ftp", "ftps", "mailto", "tel", "callto", "sms", "skype", "notes"}
)
_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*):")


@functools.cache
def adf_validator() -> jsonschema.Draft4Validator:
    """The ADF JSON schema (``@atlaskit/adf-schema`` full.json, draft-04), compiled once."""
    schema = json.loads((SPEC_DIR / "adf-schema-v1-full.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for index, child in enumerate(node.get("content") or []):
            yield from _walk(child, f"{where}/content/{index}")


def _strict_problems(doc: Any) -> list[str]:
    """What Atlassian's strict runtime validator refuses although the schema allows it."""
    problems = []
    for where, node in _walk(doc):
        if node.get("marks") == []:
            problems.append(f"{where or '/'}: empty 'marks' array")
        if node.get("attrs") == {}:
            problems.append(f"{where or '/'}: empty 'attrs' object")
        for mark in node.get("marks") or []:
            href = (mark.get("attrs") or {}).get("href") if isinstance(mark, dict) else None
            if mark.get("type") == "link" and isinstance(href, str):
                scheme = _SCHEME.match(href)
                if scheme and scheme.group(1).lower() not in SAFE_SCHEMES:
                    problems.append(f"{where}: unsafe link href {href!r}")
    return problems


def adf_problems(doc: Any, strict: bool = True) -> list[str]:
    """Why ``doc`` is not a valid ADF document (empty when it is)."""
    validator = adf_validator()
    problems = []
    for error in validator.iter_errors(doc):
        best = jsonschema.exceptions.best_match([error])
        where = "/".join(str(p) for p in best.absolute_path)
        problems.append(f"/{where}: {best.message}"[:500])
    if not problems and strict:
        problems = _strict_problems(doc)
    return problems[:10]


def is_adf_document(value: Any) -> bool:
    """Whether ``value`` even looks like an Atlassian Document (Jira's first check)."""
    return isinstance(value, dict) and value.get("type") == "doc"
