"""Schemas of test reports, test history and release notes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.api import PageQuerySchema, page_of
from app.domain.schemas import project_name_field
from plugins.planning.schemas.common import EXISTING_PROJECT, NOTES_FILENAME_PATTERN


class ReportQuerySchema(ma.Schema):
    """``?project_name=X&all_features=true``."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)
    all_features = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "true: every feature; default: MQ Planning-linked only."},
    )


class FeatureSummarySchema(ma.Schema):
    """Test aggregates of one feature."""

    feature_id = ma.fields.Integer(required=True)
    feature_name = ma.fields.String(required=True)
    total_runs = ma.fields.Integer(required=True)
    pass_count = ma.fields.Integer(required=True)
    fail_count = ma.fields.Integer(required=True)
    last_tested_at = ma.fields.DateTime(allow_none=True, required=True)
    last_result = ma.fields.Boolean(allow_none=True, required=True)


class TestReportSchema(ma.Schema):
    """The seed's aggregated test report."""

    __test__ = False

    total_features = ma.fields.Integer(required=True)
    features_tested = ma.fields.Integer(required=True)
    features_never_tested = ma.fields.Integer(required=True)
    total_test_runs = ma.fields.Integer(required=True)
    overall_pass_rate = ma.fields.Float(required=True)
    feature_summaries = ma.fields.List(ma.fields.Nested(FeatureSummarySchema), required=True)
    generated_at = ma.fields.DateTime(required=True)


class HistoryQuerySchema(ma.Schema):
    """``?project_name=X&feature_id=N&limit=50``."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)
    feature_id = ma.fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


class HistoryRunSchema(ma.Schema):
    """One test run on the timeline."""

    id = ma.fields.Integer(required=True)
    feature_id = ma.fields.Integer(required=True)
    feature_name = ma.fields.String(required=True)
    passed = ma.fields.Boolean(required=True)
    agent_type = ma.fields.String(required=True)
    started_at = ma.fields.DateTime(required=True)
    completed_at = ma.fields.DateTime(allow_none=True, required=True)
    return_code = ma.fields.Integer(allow_none=True, required=True)


class TestHistorySchema(ma.Schema):
    """``{"runs": [...], "total_count": N}``."""

    __test__ = False

    runs = ma.fields.List(ma.fields.Nested(HistoryRunSchema), required=True)
    total_count = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)


class ReleaseNotesQuerySchema(PageQuerySchema):
    """``?project_name=X`` plus the page parameters."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)


class ReleaseNotesItemSchema(ma.Schema):
    """One release notes file."""

    filename = ma.fields.String(required=True)
    cycle_name = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    size_bytes = ma.fields.Integer(required=True)


ReleaseNotesPageSchema = page_of(ReleaseNotesItemSchema)


class ReleaseNotesContentQuerySchema(ma.Schema):
    """``?project_name=X&filename=Y``."""

    project_name = project_name_field(description=EXISTING_PROJECT, required=True)
    filename = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "A file of `GET /api/planning/release-notes`: a plain `.md` name "
            "inside `releases/` (400 INVALID_FILENAME otherwise, 404 when absent).",
            # Documented here, checked (with its own problem code) by release_notes.read_notes.
            "pattern": NOTES_FILENAME_PATTERN,
        },
    )


class ReleaseNotesContentSchema(ma.Schema):
    """One release notes file's content."""

    filename = ma.fields.String(required=True)
    content = ma.fields.String(required=True)
