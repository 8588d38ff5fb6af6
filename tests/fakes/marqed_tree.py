"""Write MarQed trees for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path


def _write(path: Path, ident: str, name: str, priority: str, depends: str, criteria: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {ident} | {name}",
        "",
        f"**Priority:** {priority}",
        "**Status:** planned",
        f"**Depends on:** {depends or 'none'}",
        "",
        f"Description of {name}.",
        "",
        "## Acceptance Criteria",
        "",
    ]
    lines += [f"- [ ] {name} criterion {n + 1}" for n in range(criteria)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_tree(
    root: Path, epics: int = 3, features: int = 10, stories: int = 20, tasks: int = 30
) -> dict[str, int]:
    """Write a tree with the given counts, spread evenly; returns the counts written."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "project.md").write_text("# Demo project\n\nA generated MarQed tree.\n")
    priorities = ["high", "medium", "low", "urgent"]
    epic_dirs, feature_dirs, story_dirs = [], [], []
    for e in range(1, epics + 1):
        d = root / "epics" / f"EPIC-{e:03d}-epic-{e}"
        _write(d / "epic.md", f"EPIC-{e:03d}", f"Epic {e}", "high", "", 1)
        epic_dirs.append(d)
    for f in range(1, features + 1):
        parent = epic_dirs[(f - 1) % len(epic_dirs)]
        d = parent / "features" / f"FEATURE-{f:03d}-feature-{f}"
        dep = f"FEATURE-{f - 1:03d}" if f > 1 and f % 3 == 0 else ""
        _write(d / "feature.md", f"FEATURE-{f:03d}", f"Feature {f}", priorities[f % 4], dep, 2)
        feature_dirs.append(d)
    for s in range(1, stories + 1):
        parent = feature_dirs[(s - 1) % len(feature_dirs)]
        d = parent / "stories" / f"STORY-{s:03d}-story-{s}"
        _write(d / "story.md", f"STORY-{s:03d}", f"Story {s}", priorities[s % 4], "", 2)
        story_dirs.append(d)
    for t in range(1, tasks + 1):
        parent = story_dirs[(t - 1) % len(story_dirs)]
        _write(parent / "tasks" / f"TASK-{t:03d}.md", f"TASK-{t:03d}", f"Task {t}", "low", "", 1)
    return {"epics": epics, "features": features, "stories": stories, "tasks": tasks}
