"""Request and response schemas of the Jira API (the seed's shapes), one module per
resource: :mod:`.config`, :mod:`.sessions` (and tickets), :mod:`.projects` (the project check),
:mod:`.adf`, :mod:`.export`; :mod:`.common` holds what they share. Every schema is importable
from here."""

from __future__ import annotations

from plugins.jira.schemas.adf import (
    JiraAdfPreviewRequestSchema,
    JiraAdfPreviewSchema,
    JiraAdfTestRequestSchema,
    JiraAdfTestResultSchema,
    JiraAdfTestSchema,
    JiraConversionWarningSchema,
)
from plugins.jira.schemas.common import JiraProjectQuerySchema
from plugins.jira.schemas.config import (
    JiraConfigSchema,
    JiraConfigUpdateSchema,
    JiraConnectionSchema,
)
from plugins.jira.schemas.export import (
    JiraExportResultsSchema,
    JiraExportRetrySchema,
    JiraExportStartSchema,
    JiraExportStatusSchema,
    JiraManualFixSchema,
    JiraOrphanSchema,
    JiraTicketReferenceSchema,
)
from plugins.jira.schemas.projects import (
    JiraIssueTypeSchema,
    JiraPriorityOptionSchema,
    JiraProjectValidationSchema,
    JiraRequirementsSchema,
    JiraSprintOptionSchema,
    JiraTeamMemberSchema,
    JiraValidateProjectSchema,
    JiraWarningSchema,
)
from plugins.jira.schemas.sessions import (
    JiraAttachmentSchema,
    JiraSessionCreateSchema,
    JiraSessionPageSchema,
    JiraSessionQuerySchema,
    JiraSessionSchema,
    JiraSessionUpdateSchema,
    JiraTicketCreateSchema,
    JiraTicketListSchema,
    JiraTicketSchema,
    JiraTicketUpdateSchema,
    JiraUploadSchema,
)

__all__ = [
    "JiraAdfPreviewRequestSchema",
    "JiraAdfPreviewSchema",
    "JiraAdfTestRequestSchema",
    "JiraAdfTestResultSchema",
    "JiraAdfTestSchema",
    "JiraAttachmentSchema",
    "JiraConfigSchema",
    "JiraConfigUpdateSchema",
    "JiraConnectionSchema",
    "JiraConversionWarningSchema",
    "JiraExportResultsSchema",
    "JiraExportRetrySchema",
    "JiraExportStartSchema",
    "JiraExportStatusSchema",
    "JiraIssueTypeSchema",
    "JiraManualFixSchema",
    "JiraOrphanSchema",
    "JiraPriorityOptionSchema",
    "JiraProjectQuerySchema",
    "JiraProjectValidationSchema",
    "JiraRequirementsSchema",
    "JiraSessionCreateSchema",
    "JiraSessionPageSchema",
    "JiraSessionQuerySchema",
    "JiraSessionSchema",
    "JiraSessionUpdateSchema",
    "JiraSprintOptionSchema",
    "JiraTeamMemberSchema",
    "JiraTicketCreateSchema",
    "JiraTicketListSchema",
    "JiraTicketReferenceSchema",
    "JiraTicketSchema",
    "JiraTicketUpdateSchema",
    "JiraUploadSchema",
    "JiraValidateProjectSchema",
    "JiraWarningSchema",
]
