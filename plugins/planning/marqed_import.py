"""Import a MarQed tree into Plane: epics as modules, features as work items, stories and
tasks as sub-items, linked to their modules and optionally to a cycle (the seed's algorithm).

:func:`start_import` parses the whole tree first — a malformed tree is a 422 listing every file
and problem, before anything is created — then runs the durable ``planning.marqed_import``
operation. The handler checkpoints the Plane id of every object right after creating it, and
every object carries ``external_source``/``external_id`` (``marqed:<tree>:<IDENT>``), so a
re-run or a resumed import creates nothing twice: Plane answers 409 with the existing id.
"""

from __future__ import annotations

import hashlib
import html
import logging
from pathlib import Path
from typing import Any

from app import operations
from app.domain import find_project
from app.errors import ValidationFailed, field_error
from app.http import HttpError
from plugins.planning import config, marqed, release_notes, service
from plugins.planning.client import PlaneClient
from plugins.planning.marqed import Entity, MarqedParseError, MarqedTree
from plugins.planning.plane_errors import CycleCompleted, ModuleNameTaken, plane_id

log = logging.getLogger(__name__)

KIND = "planning.marqed_import"
# Failures that concern the whole import (retry it later, or fix the key) rather than one entity.
_FATAL_CATEGORIES = frozenset({"auth", "permission", "rate_limited", "temporary"})


def parse_or_422(marqed_dir: str) -> MarqedTree:
    """The parsed tree, or a 422 whose ``errors`` name each file (``field``) and problem."""
    root = Path(marqed_dir)
    if not root.is_absolute():
        raise ValidationFailed(
            "marqed_dir must be an absolute path on the Junction host.",
            errors=[field_error("marqed_dir", "Give an absolute path.")],
        )
    try:
        return marqed.parse_tree(root)
    except MarqedParseError as exc:
        raise ValidationFailed(
            f"The MarQed tree at {root} has {len(exc.problems)} problem(s); nothing was imported.",
            code="MARQED_INVALID",
            errors=[field_error(p.file, p.message, "marqed") for p in exc.problems],
        ) from exc


def source_of(tree: MarqedTree) -> str:
    """The tree's part of every external id: its project name (or folder name) as a slug."""
    return release_notes.slugify(tree.project_name or tree.root.resolve().name)


def submission(marqed_dir: str, cycle_id: str | None, project_name: str | None) -> dict[str, Any]:
    """Validate an import request; the keywords of the operation that carries it out.

    A malformed tree is a 422, a bad ``cycle_id`` a 400, a missing configuration a 401/400 —
    all before anything is created.
    """
    tree = parse_or_422(marqed_dir)
    if cycle_id is not None:
        plane_id(cycle_id)  # 400 now, not after every work item has been created
    project = find_project(project_name)
    plane = config.plane_config(project)  # 401/400 now rather than in the operation
    root = str(tree.root.resolve())
    key = hashlib.sha256(f"{plane.project_id}\0{root}\0{cycle_id or ''}".encode()).hexdigest()
    name = project.name if project else None
    return {
        "kind": KIND,
        "params": {"marqed_dir": root, "cycle_id": cycle_id, "project_name": name},
        "project": name,
        "dedupe_key": f"{KIND}:{key[:32]}",
    }


def start_import(
    marqed_dir: str, cycle_id: str | None, project_name: str | None, wait: float
) -> dict[str, Any] | Any:
    """Validate, then import within ``wait`` seconds: the summary, or the operation's 202."""
    return operations.submit_and_respond(
        **submission(marqed_dir, cycle_id, project_name), wait=wait
    )


def marqed_import_operation(ctx: operations.OperationContext) -> dict[str, Any]:
    """The durable import; resumable from its checkpoint without creating anything twice."""
    try:
        tree = marqed.parse_tree(ctx.params["marqed_dir"])
    except MarqedParseError as exc:  # changed on disk since the request was accepted
        problems = "; ".join(f"{p.file}: {p.message}" for p in exc.problems[:10])
        raise operations.PermanentFailure(
            f"The MarQed tree is malformed: {problems}", category="validation"
        ) from exc
    project = find_project(ctx.params.get("project_name"))
    cycle_id = ctx.params.get("cycle_id")
    source = source_of(tree)
    checkpoint: dict[str, Any] = dict(ctx.checkpoint)
    ids: dict[str, str] = checkpoint.setdefault("ids", {})
    results: dict[str, dict[str, Any]] = checkpoint.setdefault("entities", {})
    linked: list[str] = checkpoint.setdefault("modules_linked", [])
    ordered = [e for kind in marqed.ENTITY_ORDER for e in tree.of_type(kind)]
    epics = tree.of_type("epic")
    total = len(ordered) + len(epics) + (1 if cycle_id else 0)
    done = len(results) + len(linked)

    with service.plane(project) as client:
        for entity in ordered:
            if entity.identifier in results:
                continue
            ctx.raise_if_cancelled()
            results[entity.identifier] = _create(client, tree, entity, ids, source)
            if results[entity.identifier]["planning_id"]:
                ids[entity.identifier] = results[entity.identifier]["planning_id"]
            ctx.save_checkpoint(checkpoint)
            done += 1
            ctx.progress(done, total, f"{entity.identifier} {results[entity.identifier]['action']}")

        for epic in epics:
            if epic.identifier in linked or epic.identifier not in ids:
                continue
            members = [ids[i] for i in _descendants(tree, epic) if i in ids]
            client.add_to_module(ids[epic.identifier], members)
            linked.append(epic.identifier)
            ctx.save_checkpoint(checkpoint)
            done += 1
            ctx.progress(done, total, f"linked {len(members)} work item(s) to {epic.identifier}")

        if cycle_id and not checkpoint.get("cycle_done"):
            items = [
                ids[e.identifier]
                for e in ordered
                if e.entity_type != "epic" and e.identifier in ids
            ]
            checkpoint["cycle_linked"], checkpoint["cycle_error"] = 0, None
            try:
                client.add_to_cycle(cycle_id, items)
                checkpoint["cycle_linked"] = len(items)
            except CycleCompleted as exc:
                checkpoint["cycle_error"] = f"CYCLE_COMPLETED: {exc.detail}"
            except HttpError as error:
                if error.category in _FATAL_CATEGORIES:
                    raise
                checkpoint["cycle_error"] = (
                    f"Could not add the work items to cycle {cycle_id}: "
                    f"{error.remote_message or error}"
                )
            checkpoint["cycle_done"] = True
            ctx.save_checkpoint(checkpoint)
            ctx.progress(total, total, "added to the cycle")
    return _summary(ordered, results, checkpoint, cycle_id)


def _create(
    client: PlaneClient,
    tree: MarqedTree,
    entity: Entity,
    ids: dict[str, str],
    source: str,
) -> dict[str, Any]:
    """Create (or find) one entity's Plane object; the seed's entity result."""
    is_epic = entity.entity_type == "epic"
    result = {
        "identifier": entity.identifier,
        "name": entity.name,
        "entity_type": entity.entity_type,
        "planning_type": "module" if is_epic else "work_item",
        "planning_id": "",
        "action": "error",
        "error": "",
    }
    external_id = f"marqed:{source}:{entity.identifier}"
    try:
        if is_epic:
            try:
                planning_id, created, module_name = _create_module(
                    client, entity, external_id, source
                )
            except ModuleNameTaken as exc:
                owner = (exc.existing or {}).get("external_id") or "created in MQ Planning"
                result["error"] = (
                    f"MODULE_NAME_ALREADY_EXISTS: modules named {entity.name!r} and "
                    f"{exc.name!r} already exist in MQ Planning and are not this tree's "
                    f"({owner}); rename the epic or one of the modules and import again. "
                    "The epic's work items are created but linked to no module."
                )
                return result
            result["name"] = module_name
        else:
            body: dict[str, Any] = {
                "name": entity.name,
                "description_html": _description_html(entity),
                "priority": entity.priority,
            }
            if entity.state_group:
                state = client.state_for_group(entity.state_group)
                if state:
                    body["state"] = state
            if entity.entity_type in {"story", "task"}:
                parent = ids.get(entity.parent or "")
                if not parent:
                    result["error"] = f"parent {entity.parent} was not created"
                    return result
                body["parent"] = parent
            planning_id, created = client.create_work_item(body, external_id)
    except HttpError as error:
        if error.category in _FATAL_CATEGORIES:
            raise
        result["error"] = error.remote_message or str(error)
        return result
    result.update(planning_id=planning_id, action="created" if created else "existing")
    return result


def module_name_for(name: str, source: str) -> str:
    """The name an epic's module takes when another tree's (or a hand-made) module already
    has the epic's name: the name with the tree in brackets, within Plane's 255 characters."""
    suffix = f" ({source})"
    return name[: 255 - len(suffix)] + suffix


def _create_module(
    client: PlaneClient, entity: Entity, external_id: str, source: str
) -> tuple[str, bool, str]:
    """The epic's module ``(id, created, name)``: under the epic's name, or, when a module that
    is not ours has it, under :func:`module_name_for`; :class:`ModuleNameTaken` if both are
    taken by others."""
    description = _plain_description(entity)
    try:
        return client.create_module(entity.name, description, external_id)
    except ModuleNameTaken:
        name = module_name_for(entity.name, source)
        log.info(
            "MarQed %s: module name %r is taken, using %r", entity.identifier, entity.name, name
        )
        return client.create_module(name, description, external_id)


def _descendants(tree: MarqedTree, entity: Entity) -> list[str]:
    found: list[str] = []
    stack = list(reversed(entity.children))
    while stack:
        ident = stack.pop()
        found.append(ident)
        stack.extend(reversed(tree.entities[ident].children))
    return found


def _plain_description(entity: Entity) -> str:
    parts = [entity.description]
    if entity.acceptance_criteria:
        parts.append(
            "Acceptance criteria:\n" + "\n".join(f"- {c}" for c in entity.acceptance_criteria)
        )
    parts.append(f"Imported from MarQed ({entity.identifier}, {entity.path}).")
    return "\n\n".join(p for p in parts if p)


def _description_html(entity: Entity) -> str:
    parts = [
        f"<p>{html.escape(paragraph)}</p>"
        for paragraph in entity.description.split("\n\n")
        if paragraph.strip()
    ]
    if entity.depends_on:
        parts.append(
            f"<p><strong>Depends on:</strong> {html.escape(', '.join(entity.depends_on))}</p>"
        )
    if entity.acceptance_criteria:
        items = "".join(f"<li>{html.escape(c)}</li>" for c in entity.acceptance_criteria)
        parts.append(f"<h3>Acceptance Criteria</h3><ul>{items}</ul>")
    parts.append(
        f"<p><em>Imported from MarQed ({html.escape(entity.identifier)}, "
        f"{html.escape(entity.path)}).</em></p>"
    )
    return "".join(parts)


def _summary(
    ordered: list[Entity],
    results: dict[str, dict[str, Any]],
    checkpoint: dict[str, Any],
    cycle_id: str | None,
) -> dict[str, Any]:
    entities = [results[e.identifier] for e in ordered if e.identifier in results]
    created = [r for r in entities if r["action"] == "created"]
    cycle_error = checkpoint.get("cycle_error")
    return {
        "total_entities": len(ordered),
        "created": len(created),
        "existing": sum(1 for r in entities if r["action"] == "existing"),
        "errors": sum(1 for r in entities if r["action"] == "error") + (1 if cycle_error else 0),
        "modules_created": sum(1 for r in created if r["planning_type"] == "module"),
        "work_items_created": sum(1 for r in created if r["planning_type"] == "work_item"),
        "cycle_id": cycle_id,
        "cycle_linked": int(checkpoint.get("cycle_linked") or 0),
        "cycle_error": cycle_error,
        "entities": entities,
    }
