"""Parse a MarQed markdown tree into epics, features, stories and tasks.

Layout (directories may also start at ``features/`` when a project has no epics)::

    project.md
    epics/EPIC-001-name/epic.md
    epics/EPIC-001-name/features/FEATURE-001-name/feature.md
    .../features/FEATURE-001-name/stories/STORY-001-name/story.md
    .../stories/STORY-001-name/tasks/TASK-001.md

Each file starts with ``# IDENT | Name``, then ``**Priority:**``, ``**Status:**`` and
``**Depends on:**`` fields, a description, and acceptance criteria under a heading such as
"Acceptance Criteria", "AC" or "Definition of Done" (checkboxes, Given/When/Then lines or
bullets). The parser reads the whole tree and reports every problem at once — each with its file —
so a malformed tree is rejected before anything is created in Plane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ENTITY_ORDER = ("epic", "feature", "story", "task")
PREFIX = {"epic": "EPIC", "feature": "FEATURE", "story": "STORY", "task": "TASK"}
CHILD_DIR = {"epic": "features", "feature": "stories", "story": "tasks"}
MAX_FILE_BYTES = 1024 * 1024

PRIORITIES = {
    "urgent": "urgent",
    "critical": "urgent",
    "highest": "urgent",
    "high": "high",
    "medium": "medium",
    "normal": "medium",
    "low": "low",
    "lowest": "low",
    "none": "none",
}
# MarQed status -> Plane state group.
STATUSES = {
    "backlog": "backlog",
    "planned": "unstarted",
    "todo": "unstarted",
    "to do": "unstarted",
    "ready": "unstarted",
    "in progress": "started",
    "in-progress": "started",
    "started": "started",
    "review": "started",
    "done": "completed",
    "completed": "completed",
    "complete": "completed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}

_HEADING = re.compile(r"^#\s+(?P<ident>[A-Z]+-\d+)\s*\|\s*(?P<name>\S.*?)\s*$")
_FIELD = re.compile(r"^\*\*(?P<key>[A-Za-z ]+):\*\*\s*(?P<value>.*?)\s*$")
_DIR_IDENT = re.compile(r"^(?P<ident>[A-Z]+-\d+)(?:-.*)?$")
_AC_HEADING = re.compile(
    r"^#{2,6}\s*(acceptance criteria|ac|definition of done)\s*:?\s*$", re.IGNORECASE
)
_AC_INLINE = re.compile(r"^(?:AC|Acceptance Criteria)\s*:\s*(?P<rest>.*)$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(?P<text>\S.*)$")
_GWT = re.compile(r"^\s*(?:given|when|then|and|but)\b", re.IGNORECASE)


@dataclass
class Entity:
    """One epic, feature, story or task of the tree."""

    identifier: str
    name: str
    entity_type: str
    path: str
    priority: str = "none"
    status: str | None = None
    state_group: str | None = None
    depends_on: list[str] = field(default_factory=list)
    description: str = ""
    acceptance_criteria: list[str] = field(default_factory=list)
    parent: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class MarqedTree:
    """The parsed tree: entities by identifier, in file order (parents before children)."""

    root: Path
    project_name: str | None
    entities: dict[str, Entity]

    def of_type(self, entity_type: str) -> list[Entity]:
        """Entities of one type, in tree order."""
        return [e for e in self.entities.values() if e.entity_type == entity_type]

    def epic_of(self, entity: Entity) -> Entity | None:
        """The epic an entity belongs to, following parents."""
        current: Entity | None = entity
        while current is not None and current.entity_type != "epic":
            current = self.entities.get(current.parent) if current.parent else None
        return current


@dataclass
class Problem:
    """One problem of a malformed tree: the file (relative to the root) and what is wrong."""

    file: str
    message: str


class MarqedParseError(ValueError):
    """The tree is malformed; ``problems`` lists every file and problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the MarQed tree")
        self.problems = problems


def parse_tree(root: str | Path) -> MarqedTree:
    """Parse the MarQed tree at ``root``; raise :class:`MarqedParseError` listing all problems."""
    root_path = Path(root)
    problems: list[Problem] = []
    if not root_path.is_dir():
        raise MarqedParseError([Problem(str(root), "not a directory")])
    entities: dict[str, Entity] = {}
    project_name = _project_name(root_path, problems)

    top_level = [
        (root_path / "epics", "epic"),
        (root_path / "features", "feature"),
    ]
    found_any = False
    for folder, entity_type in top_level:
        if folder.is_dir():
            found_any = True
            _walk(root_path, folder, entity_type, None, entities, problems)
    if not found_any:
        problems.append(Problem(".", "no epics/ or features/ folder"))

    for entity in entities.values():
        for dependency in entity.depends_on:
            if dependency not in entities:
                problems.append(
                    Problem(entity.path, f"'Depends on' names unknown identifier {dependency}")
                )
            elif dependency == entity.identifier:
                problems.append(Problem(entity.path, "an entity cannot depend on itself"))
    if not problems and not entities:
        problems.append(Problem(".", "the tree contains no entities"))
    if problems:
        raise MarqedParseError(problems)
    return MarqedTree(root=root_path, project_name=project_name, entities=entities)


def _project_name(root: Path, problems: list[Problem]) -> str | None:
    project = root / "project.md"
    if not project.is_file():
        return None
    text = _read(root, project, problems)
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].split("|")[-1].strip() or None
    return None


def _walk(
    root: Path,
    folder: Path,
    entity_type: str,
    parent: Entity | None,
    entities: dict[str, Entity],
    problems: list[Problem],
) -> None:
    prefix = PREFIX[entity_type]
    if entity_type == "task":
        for path in sorted(folder.iterdir()):
            if path.is_symlink():
                problems.append(Problem(_rel(root, path), "symbolic links are not followed"))
            elif path.is_file() and path.suffix == ".md":
                _parse_file(root, path, path.stem, entity_type, parent, entities, problems)
            elif path.name.startswith("."):
                continue
            else:
                problems.append(Problem(_rel(root, path), "expected a TASK-NNN.md file"))
        return
    for directory in sorted(folder.iterdir()):
        if directory.name.startswith("."):
            continue
        if directory.is_symlink() or not directory.is_dir():
            problems.append(
                Problem(_rel(root, directory), f"expected a {prefix}-NNN-name directory")
            )
            continue
        match = _DIR_IDENT.match(directory.name)
        if not match or not match["ident"].startswith(prefix + "-"):
            problems.append(
                Problem(_rel(root, directory), f"directory name must start with {prefix}-NNN")
            )
            continue
        file = directory / f"{entity_type}.md"
        if not file.is_file():
            problems.append(Problem(_rel(root, file), f"missing {entity_type}.md"))
            continue
        entity = _parse_file(root, file, match["ident"], entity_type, parent, entities, problems)
        child_dir = directory / CHILD_DIR[entity_type]
        # Children of a broken parent are still read, so one pass reports every problem.
        if child_dir.is_dir():
            child_type = ENTITY_ORDER[ENTITY_ORDER.index(entity_type) + 1]
            _walk(root, child_dir, child_type, entity, entities, problems)


def _parse_file(
    root: Path,
    path: Path,
    expected_ident: str,
    entity_type: str,
    parent: Entity | None,
    entities: dict[str, Entity],
    problems: list[Problem],
) -> Entity | None:
    rel = _rel(root, path)
    text = _read(root, path, problems)
    if text is None:
        return None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    heading = _HEADING.match(first.strip())
    if heading is None:
        problems.append(Problem(rel, "the first line must be '# IDENT | Name'"))
        return None
    ident = heading["ident"]
    if not ident.startswith(PREFIX[entity_type] + "-"):
        problems.append(Problem(rel, f"identifier {ident} is not a {PREFIX[entity_type]}"))
        return None
    if ident.split("-")[:2] != expected_ident.split("-")[:2]:
        problems.append(Problem(rel, f"heading says {ident} but the path says {expected_ident}"))
        return None
    if ident in entities:
        problems.append(Problem(rel, f"duplicate identifier {ident} (also {entities[ident].path})"))
        return None

    entity = Entity(
        identifier=ident,
        name=heading["name"][:255],
        entity_type=entity_type,
        path=rel,
        parent=parent.identifier if parent else None,
    )
    body = lines[lines.index(first) + 1 :]
    description: list[str] = []
    criteria: list[str] = []
    in_ac = False
    for line in body:
        stripped = line.strip()
        field_match = _FIELD.match(stripped)
        if field_match and not in_ac:
            _apply_field(entity, field_match["key"], field_match["value"], problems)
            continue
        if _AC_HEADING.match(stripped):
            in_ac = True
            continue
        inline = _AC_INLINE.match(stripped)
        if inline and not stripped.startswith("#"):
            in_ac = True
            if inline["rest"]:
                criteria.append(inline["rest"])
            continue
        if stripped.startswith("#"):
            in_ac = False
            description.append(line)
            continue
        if in_ac:
            item = _LIST_ITEM.match(line)
            if item:
                criteria.append(item["text"].strip())
            elif _GWT.match(stripped):
                criteria.append(stripped)
            elif stripped:
                description.append(line)
            continue
        description.append(line)
    entity.description = "\n".join(description).strip()
    entity.acceptance_criteria = criteria
    entities[ident] = entity
    if parent is not None:
        parent.children.append(ident)
    return entity


def _apply_field(entity: Entity, key: str, value: str, problems: list[Problem]) -> None:
    key = key.strip().lower()
    if key == "priority":
        priority = PRIORITIES.get(value.strip().lower())
        if priority is None:
            problems.append(
                Problem(
                    entity.path,
                    f"unknown priority {value!r} (use urgent, high, medium, low or none)",
                )
            )
        else:
            entity.priority = priority
    elif key == "status":
        group = STATUSES.get(value.strip().lower())
        if group is None:
            problems.append(
                Problem(
                    entity.path,
                    f"unknown status {value!r} (use backlog, planned, in progress, done or "
                    "cancelled)",
                )
            )
        else:
            entity.status, entity.state_group = value.strip(), group
    elif key in {"depends on", "depends", "dependencies"}:
        cleaned = value.strip()
        if cleaned.lower() not in {"", "-", "none", "n/a"}:
            entity.depends_on = [d.strip() for d in re.split(r"[,\s]+", cleaned) if d.strip()]


def _read(root: Path, path: Path, problems: list[Problem]) -> str | None:
    rel = _rel(root, path)
    try:
        if path.is_symlink():
            problems.append(Problem(rel, "symbolic links are not followed"))
            return None
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(Problem(rel, f"larger than {MAX_FILE_BYTES} bytes"))
            return None
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(rel, "not valid UTF-8"))
    except OSError as exc:
        problems.append(Problem(rel, f"cannot be read: {exc.strerror or exc}"))
    return None


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
