"""The shared domain: projects (the registry), features and test runs.

Plugins resolve a ``project_name`` they were given with :func:`require_project` (404 when
unknown, 422 when missing) or :func:`find_project` (``None`` when not given).
"""

from __future__ import annotations

from app.domain.models import Feature, Project, TestRun
from app.domain.service import find_project, get_project, require_project

__all__ = ["Feature", "Project", "TestRun", "find_project", "get_project", "require_project"]
