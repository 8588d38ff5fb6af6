"""A session's tickets made from a project's features: one ticket per feature, its description
as HTML, the features' dependencies carried over."""

from __future__ import annotations

import html

import sqlalchemy as sa

from app.db import db
from app.domain.models import Feature, Project
from app.errors import ValidationFailed, field_error
from plugins.jira.dependencies import find_cycle
from plugins.jira.models import ExportSession, Ticket


def feature_html(feature: Feature) -> str:
    """A feature's description, steps and acceptance criteria as HTML (escaped)."""
    parts: list[str] = []
    if feature.description:
        for paragraph in str(feature.description).split("\n\n"):
            if paragraph.strip():
                parts.append(f"<p>{html.escape(paragraph.strip())}</p>")
    if feature.steps:
        items = "".join(f"<li>{html.escape(str(step))}</li>" for step in feature.steps)
        parts.append(f"<h3>Steps</h3><ol>{items}</ol>")
    if feature.acceptance_criteria:
        items = "".join(
            f"<li>{html.escape(str(criterion))}</li>" for criterion in feature.acceptance_criteria
        )
        parts.append(f"<h3>Acceptance criteria</h3><ul>{items}</ul>")
    return "".join(parts)


def _exported_feature_ids(project: Project) -> set[int]:
    rows = db.session.scalars(
        sa.select(Ticket.feature_id)
        .join(ExportSession, ExportSession.id == Ticket.session_id)
        .where(
            ExportSession.project_id == project.id,
            Ticket.feature_id.is_not(None),
            Ticket.jira_ticket_key.is_not(None),
        )
    )
    return {int(r) for r in rows if r is not None}


def tickets_from_features(
    session: ExportSession, project: Project, feature_ids: list[int] | None
) -> None:
    """One ticket per feature of ``project`` (``feature_ids``, or every feature not exported
    yet), with the features' dependencies between them; 422 on unknown ids or a cycle."""
    query = sa.select(Feature).where(Feature.project_id == project.id)
    features = list(db.session.scalars(query.order_by(Feature.priority, Feature.id)))
    if feature_ids is not None:
        wanted = set(feature_ids)
        missing = sorted(wanted - {f.id for f in features})
        if missing:
            raise ValidationFailed(
                f"Features {missing} are not features of project {project.name!r}.",
                errors=[field_error("feature_ids", "Unknown feature of this project.", "unknown")],
            )
        features = [f for f in features if f.id in wanted]
    else:
        exported = _exported_feature_ids(project)
        features = [f for f in features if f.id not in exported]
    ticket_of: dict[int, Ticket] = {}
    for position, feature in enumerate(features, start=1):
        ticket = Ticket(
            session_id=session.id,
            order=position,
            title=feature.name[:255],
            description_html=feature_html(feature),
            issue_type="Task",
            labels=[],
            dependencies=[],
            feature_id=feature.id,
            jira_export_status="pending",
            attachment_uploaded=False,
        )
        db.session.add(ticket)
        ticket_of[feature.id] = ticket
    db.session.flush()
    for feature in features:
        deps = [ticket_of[d].id for d in feature.dependencies or [] if d in ticket_of]
        ticket_of[feature.id].dependencies = deps
    graph = {t.id: list(t.dependencies) for t in ticket_of.values()}
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationFailed(
            "The features' dependencies make a cycle: " + " -> ".join(cycle) + ".",
            errors=[field_error("feature_ids", "Dependency cycle.", "cycle")],
            cycle=cycle,
        )
