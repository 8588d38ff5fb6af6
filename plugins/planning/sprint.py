"""Sprint completion: DoD check, retrospective to Plane, changelog, git tag, release notes.

:func:`start_completion` checks what can be checked at once (project, cycle, configuration,
repository, Definition of Done) and starts the durable ``planning.complete_sprint`` operation;
:func:`complete_sprint_operation` does the work step by step with a checkpoint after each
side effect, so a resumed completion repeats none of them:

* every comment carries an ``external_id`` (Plane answers a repeat with the existing one);
* the retrospective is appended to the cycle description only when its marker is absent;
* the tag and the release notes file are created only when missing.

Plane refuses edits to a cycle whose end date has passed; that is reported in ``warnings``
and the completion carries on. A :class:`~plugins.planning.models.SprintCompletion` row
records the result, so a second call answers the same without doing anything.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import events, operations
from app.db import db
from app.domain import require_project
from app.domain.models import Feature, Project
from app.errors import BadRequest
from app.http import HttpError
from plugins.planning import config, git, release_notes, reports, service
from plugins.planning.models import SprintCompletion
from plugins.planning.plane_errors import CycleCompleted, InvalidPlaneId, plane_id

log = logging.getLogger(__name__)

KIND = "planning.complete_sprint"
RETRO_MARKER = "--- Sprint retrospective (Junction) ---"


def linked_features(project: Project) -> list[Feature]:
    """The project's features linked to a Plane work item, in priority order."""
    return list(
        db.session.scalars(
            sa.select(Feature)
            .where(Feature.project_id == project.id, Feature.planning_work_item_id.is_not(None))
            .order_by(Feature.priority, Feature.id)
        )
    )


def dod_failure(features: list[Feature]) -> dict[str, Any] | None:
    """The seed's ``success: false`` body when the Definition of Done is not met, else None."""
    passing = sum(1 for f in features if f.passes)
    failing = len(features) - passing
    if features and not failing:
        return None
    error = (
        "No features of this project are linked to MQ Planning work items; import a cycle first."
        if not features
        else f"Definition of Done not met: {failing} of {len(features)} linked feature(s) do "
        "not pass their tests."
    )
    return {
        "success": False,
        "features_completed": passing,
        "features_failed": failing,
        "git_tag": None,
        "change_log": "",
        "release_notes_path": None,
        "error": error,
        "warnings": [],
    }


def completed(project: Project, cycle_id: str) -> SprintCompletion | None:
    """The recorded completion of the cycle, if any."""
    return db.session.scalar(
        sa.select(SprintCompletion).where(
            SprintCompletion.project_id == project.id, SprintCompletion.cycle_id == cycle_id
        )
    )


def start_completion(project: Project, cycle_id: str | None, wait: float) -> dict[str, Any] | Any:
    """Complete the sprint of ``cycle_id`` (default: the active cycle) within ``wait`` seconds:
    the seed's result, or the 202 answer of the running operation
    (:func:`app.operations.submit_and_respond`)."""
    cycle_id = cycle_id or config.effective(project).get("active_cycle_id")
    if not cycle_id:
        raise BadRequest(
            "No cycle_id given and no planning_active_cycle_id configured for the project.",
            code="NO_ACTIVE_CYCLE",
        )
    cycle_id = plane_id(cycle_id)  # 400 before anything else, as for import-cycle
    done = completed(project, cycle_id)
    if done is not None:
        return dict(done.result)
    config.plane_config(project)  # 401/400 now rather than in the operation
    git.require_repository(project.path)
    failure = dod_failure(linked_features(project))
    if failure is not None:
        return failure
    return operations.submit_and_respond(
        KIND,
        {"project_name": project.name, "cycle_id": cycle_id},
        project=project.name,
        dedupe_key=f"{KIND}:{project.name}:{cycle_id}",
        wait=wait,
    )


def complete_sprint_operation(ctx: operations.OperationContext) -> dict[str, Any]:
    """The durable completion; resumable from its checkpoint without repeating side effects.

    Plane's failures arrive as the seed's problems; the runner retries 429 and 5xx and fails
    the rest with the problem, which the waiting request answers.
    """
    project = require_project(ctx.params["project_name"])
    cycle_id = str(ctx.params["cycle_id"])
    done = completed(project, cycle_id)
    if done is not None:
        return dict(done.result)
    features = linked_features(project)
    failure = dod_failure(features)
    if failure is not None:  # a feature stopped passing since the request: write nothing
        return failure
    checkpoint: dict[str, Any] = dict(ctx.checkpoint)
    warnings: list[str] = list(checkpoint.get("warnings", []))
    stats = {s["feature_id"]: s for s in reports.test_report(project)["feature_summaries"]}
    total = len(features) + 3

    with service.plane(project, "Cycle") as client:
        if "cycle" not in checkpoint:
            cycle = client.cycle(cycle_id, bucket="import")
            checkpoint["cycle"] = {
                key: cycle.get(key) for key in ("id", "name", "start_date", "end_date")
            }
            checkpoint["description"] = cycle.get("description") or ""
            ctx.save_checkpoint(checkpoint)
        cycle = checkpoint["cycle"]
        slug = release_notes.slugify(str(cycle.get("name") or cycle_id))
        tag = f"{git.TAG_PREFIX}{slug}"
        if "change_log" not in checkpoint:
            previous = git.previous_sprint_tag(project.path, exclude=tag)
            checkpoint["previous_tag"] = previous
            checkpoint["change_log"] = git.change_log(project.path, previous)
            ctx.save_checkpoint(checkpoint)
        change_log = str(checkpoint["change_log"])

        commented: list[str] = list(checkpoint.get("commented", []))
        for index, feature in enumerate(features, start=1):
            work_item = str(feature.planning_work_item_id)
            if work_item in commented:
                continue
            ctx.raise_if_cancelled()
            try:
                client.comment(
                    work_item,
                    _comment_html(cycle, feature, stats.get(feature.id)),
                    external_id=f"junction:sprint:{cycle_id}:{work_item}",
                )
            except InvalidPlaneId:
                warnings.append(
                    f"Feature {feature.name!r} is linked to {work_item!r}, which is not a Plane "
                    "work item id; no comment written."
                )
            except HttpError as error:
                if error.category != "not_found":
                    raise
                warnings.append(
                    f"Work item {work_item} ({feature.name}) no longer exists in MQ Planning; "
                    "no comment written."
                )
            commented.append(work_item)
            checkpoint.update(commented=commented, warnings=warnings)
            ctx.save_checkpoint(checkpoint)
            ctx.progress(index, total, f"commented on {feature.name}")

        if not checkpoint.get("cycle_written"):
            description = str(checkpoint.get("description") or "")
            if RETRO_MARKER not in description:
                retro = _retrospective(cycle, features, stats, change_log)
                try:
                    client.update_cycle_description(cycle_id, f"{description}\n\n{retro}".strip())
                except CycleCompleted as exc:
                    warnings.append(
                        f"{exc.detail} Cycle {cycle.get('name')!r} ended on "
                        f"{str(cycle.get('end_date') or '?')[:10]}; the retrospective is in "
                        "the work item comments and the release notes only."
                    )
            checkpoint.update(cycle_written=True, warnings=warnings)
            ctx.save_checkpoint(checkpoint)
        ctx.progress(len(features) + 1, total, "retrospective written")

    completed_at = dt.datetime.fromisoformat(
        checkpoint.setdefault("completed_at", service.now().isoformat())
    )
    passing = [f for f in features if f.passes]
    git.create_annotated_tag(
        project.path,
        tag,
        f"Sprint {cycle.get('name')}: {len(passing)} feature(s) completed (Junction).",
    )
    ctx.progress(len(features) + 2, total, f"tagged {tag}")
    content = release_notes.build_markdown(
        cycle,
        [{"id": f.id, "name": f.name, "passes": f.passes} for f in features],
        change_log,
        tag,
        completed_at,
    )
    path, _ = release_notes.write_notes(project.path, release_notes.notes_filename(slug), content)
    ctx.progress(total, total, "release notes written")
    result = {
        "success": True,
        "features_completed": len(passing),
        "features_failed": len(features) - len(passing),
        "git_tag": tag,
        "change_log": change_log,
        "release_notes_path": str(path),
        "error": None,
        "warnings": warnings,
        "cycle_id": cycle_id,
        "cycle_name": cycle.get("name"),
    }
    result = _record(project, cycle_id, str(cycle.get("name") or ""), tag, str(path), result)
    events.publish(
        "planning",
        "planning.sprint_completed",
        {"project": project.name, "cycle_id": cycle_id, "git_tag": tag},
        project=project.name,
    )
    return result


def _record(
    project: Project,
    cycle_id: str,
    cycle_name: str,
    tag: str,
    path: str,
    result: dict[str, Any],
) -> dict[str, Any]:
    db.session.add(
        SprintCompletion(
            project_id=project.id,
            cycle_id=cycle_id,
            cycle_name=cycle_name[:255],
            git_tag=tag,
            release_notes_path=path,
            result=result,
        )
    )
    try:
        db.session.commit()
    except IntegrityError:  # recorded by a concurrent completion: that one's answer stands
        db.session.rollback()
        existing = completed(project, cycle_id)
        assert existing is not None
        return dict(existing.result)
    return result


def _comment_html(cycle: dict[str, Any], feature: Feature, stats: dict[str, Any] | None) -> str:
    runs = int(stats["total_runs"]) if stats else 0
    passed = int(stats["pass_count"]) if stats else 0
    return (
        f"<p><strong>Sprint {html.escape(str(cycle.get('name')))} completed.</strong> "
        f"Feature &quot;{html.escape(feature.name)}&quot; passes its tests "
        f"({passed} of {runs} test run(s) passed).</p>"
        "<p>Completed by Junction.</p>"
    )


def _retrospective(
    cycle: dict[str, Any],
    features: list[Feature],
    stats: dict[int, dict[str, Any]],
    change_log: str,
) -> str:
    runs = sum(int(s["total_runs"]) for s in stats.values())
    passed = sum(int(s["pass_count"]) for s in stats.values())
    rate = round(100.0 * passed / runs, 1) if runs else 0.0
    lines = [
        RETRO_MARKER,
        f"Sprint {cycle.get('name')}: {len(features)} feature(s) completed, 0 failed.",
        f"Test runs: {runs}, pass rate {rate}%.",
        "Features:",
        *[f"- {f.name}" for f in features],
    ]
    if change_log:
        lines += ["Changes:", *[f"- {line}" for line in change_log.splitlines()]]
    return "\n".join(lines)
