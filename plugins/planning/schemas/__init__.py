"""Request and response schemas of the planning API (the seed's shapes), one module per
resource: :mod:`.common` (shared fields), :mod:`.config`, :mod:`.cycles`, :mod:`.reports`,
:mod:`.marqed`. Every schema is importable from here."""

from __future__ import annotations

from app.operations.schemas import AcceptedSchema, WaitQuerySchema
from plugins.planning.schemas.common import (
    EXISTING_PROJECT,
    NOTES_FILENAME_PATTERN,
    PROJECT_NAME,
    UUID_PATTERN,
    ProjectQuerySchema,
    plane_id_field,
)
from plugins.planning.schemas.config import (
    ConfigSchema,
    ConfigUpdateSchema,
    ConnectionSchema,
    SelfHostSchema,
)
from plugins.planning.schemas.cycles import (
    CompleteSprintRequestSchema,
    CompleteSprintResultSchema,
    CycleListSchema,
    CycleSchema,
    ImportDetailSchema,
    ImportRequestSchema,
    ImportResultSchema,
    SprintStatsSchema,
    SyncStatusSchema,
    WebhookPayloadSchema,
    WebhookResultSchema,
)
from plugins.planning.schemas.marqed import (
    MarqedEntitySchema,
    MarqedImportRequestSchema,
    MarqedSummarySchema,
)
from plugins.planning.schemas.reports import (
    FeatureSummarySchema,
    HistoryQuerySchema,
    HistoryRunSchema,
    ReleaseNotesContentQuerySchema,
    ReleaseNotesContentSchema,
    ReleaseNotesItemSchema,
    ReleaseNotesPageSchema,
    ReleaseNotesQuerySchema,
    ReportQuerySchema,
    TestHistorySchema,
    TestReportSchema,
)

__all__ = [
    "EXISTING_PROJECT",
    "NOTES_FILENAME_PATTERN",
    "PROJECT_NAME",
    "UUID_PATTERN",
    "AcceptedSchema",
    "CompleteSprintRequestSchema",
    "CompleteSprintResultSchema",
    "ConfigSchema",
    "ConfigUpdateSchema",
    "ConnectionSchema",
    "CycleListSchema",
    "CycleSchema",
    "FeatureSummarySchema",
    "HistoryQuerySchema",
    "HistoryRunSchema",
    "ImportDetailSchema",
    "ImportRequestSchema",
    "ImportResultSchema",
    "MarqedEntitySchema",
    "MarqedImportRequestSchema",
    "MarqedSummarySchema",
    "ProjectQuerySchema",
    "ReleaseNotesContentQuerySchema",
    "ReleaseNotesContentSchema",
    "ReleaseNotesItemSchema",
    "ReleaseNotesPageSchema",
    "ReleaseNotesQuerySchema",
    "ReportQuerySchema",
    "SelfHostSchema",
    "SprintStatsSchema",
    "SyncStatusSchema",
    "TestHistorySchema",
    "TestReportSchema",
    "WaitQuerySchema",
    "WebhookPayloadSchema",
    "WebhookResultSchema",
    "plane_id_field",
]
