"""Schemas of the Jira project check: sprints, team, priorities, issue types and warnings."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from plugins.jira.schemas.common import F


class JiraRequirementsSchema(ma.Schema):
    """The seed's ``ProjectRequirements``."""

    requires_sprint_assignment = F.Boolean(load_default=False)
    requires_assignee = F.Boolean(load_default=False)
    requires_priority_levels = F.Boolean(load_default=False)


class JiraValidateProjectSchema(ma.Schema):
    """The seed's ``ProjectValidationRequest``."""

    project_key = F.String(
        required=True,
        validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9_]+$")],
    )
    user_requirements = F.Nested(JiraRequirementsSchema, load_default=dict)
    project_name = F.String(validate=validate.Length(min=1, max=64))


class JiraSprintOptionSchema(ma.Schema):
    """``SprintOption``."""

    id = F.String()
    name = F.String()
    state = F.String()


class JiraTeamMemberSchema(ma.Schema):
    """``TeamMemberOption``."""

    account_id = F.String()
    display_name = F.String(allow_none=True)
    email = F.String(allow_none=True)


class JiraPriorityOptionSchema(ma.Schema):
    """``PriorityOption``."""

    id = F.String()
    name = F.String()
    is_default = F.Boolean()


class JiraWarningSchema(ma.Schema):
    """``ValidationWarning``."""

    type = F.String()
    message = F.String()
    severity = F.String()


class JiraIssueTypeSchema(ma.Schema):
    """An issue type of the project."""

    id = F.String()
    name = F.String()


class JiraProjectValidationSchema(ma.Schema):
    """The seed's ``ProjectValidationResponse``."""

    project_key = F.String()
    project_name = F.String()
    validation_status = F.String()
    can_create_tasks = F.Boolean()
    can_view_project = F.Boolean()
    available_sprints = F.List(F.Nested(JiraSprintOptionSchema))
    team_members = F.List(F.Nested(JiraTeamMemberSchema))
    priority_levels = F.List(F.Nested(JiraPriorityOptionSchema))
    issue_types = F.List(F.Nested(JiraIssueTypeSchema))
    validation_warnings = F.List(F.Nested(JiraWarningSchema))
    blocking_issues = F.List(F.String())
