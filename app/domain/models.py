"""Shared nouns of Junction: projects, features and test runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Model, TimestampMixin, UTCDateTime


class Project(TimestampMixin, Model):
    """A registered project: a name and a checkout on disk."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    path: Mapped[str] = mapped_column(sa.String(1024), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    features: Mapped[list[Feature]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )


class Feature(TimestampMixin, Model):
    """A unit of work for the coding agents, optionally linked to a planning work item."""

    __tablename__ = "features"
    __table_args__ = (sa.Index("ix_features_project_priority", "project_id", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    priority: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=999)
    category: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    steps: Mapped[list[Any]] = mapped_column(sa.JSON, nullable=False, default=list)
    dependencies: Mapped[list[int]] = mapped_column(sa.JSON, nullable=False, default=list)
    acceptance_criteria: Mapped[list[Any]] = mapped_column(sa.JSON, nullable=False, default=list)
    passes: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    in_progress: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    planning_work_item_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    planning_synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    planning_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    project: Mapped[Project] = relationship(back_populates="features")
    test_runs: Mapped[list[TestRun]] = relationship(
        back_populates="feature", cascade="all, delete-orphan", passive_deletes=True
    )


class TestRun(Model):
    """One run of the tests of a feature by a coding or testing agent."""

    __tablename__ = "test_runs"
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(primary_key=True)
    feature_id: Mapped[int] = mapped_column(
        sa.ForeignKey("features.id", ondelete="CASCADE"), nullable=False, index=True
    )
    passed: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    agent_type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    return_code: Mapped[int | None] = mapped_column(sa.Integer)

    feature: Mapped[Feature] = relationship(back_populates="test_runs")
