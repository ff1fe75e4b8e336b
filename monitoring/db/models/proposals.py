"""Improvement proposals, their validation, their measured impact, and the app configs they roll out."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from metamon.monitoring.db.base import Base, check_in, created_at, updated_at, uuid_pk

PROPOSAL_STATUSES = (
    "pending",
    "validating",
    "validated",
    "failed_validation",
    "approved",
    "rejected",
    "rolling_out",
    "implemented",
    "rolled_back",
)
# A proposal in one of these states still owns its root cause: no second one is opened for it.
OPEN_PROPOSAL_STATUSES = ("pending", "validating", "validated", "approved", "rolling_out")


class ImprovementProposal(Base):
    __tablename__ = "improvement_proposals"
    __table_args__ = (
        CheckConstraint(check_in("status", PROPOSAL_STATUSES), name="status_known"),
        CheckConstraint("rollout_percent BETWEEN 0 AND 100", name="rollout_percent_range"),
        Index(
            "uq_improvement_proposals_open_root_cause",
            "project_id",
            "root_cause_key",
            unique=True,
            postgresql_where=text(f"status IN {OPEN_PROPOSAL_STATUSES}"),
        ),
        Index("ix_improvement_proposals_status_type", "status", "proposal_type"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("monitoring_alerts.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(32), default="pending")
    proposal_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    app: Mapped[str | None] = mapped_column(String(200))
    # Scope and cause, e.g. {"dimension": "prompt_version", "value": "v7", "metric": "fact_accuracy"}.
    root_cause_key: Mapped[str] = mapped_column(String(500))
    scope: Mapped[dict] = mapped_column(default=dict)
    root_cause: Mapped[dict] = mapped_column(default=dict)
    evidence: Mapped[dict] = mapped_column(default=dict)
    recommended_change: Mapped[dict] = mapped_column(default=dict)
    expected_improvement: Mapped[float | None] = mapped_column(Float)
    effort: Mapped[str | None] = mapped_column(String(32))
    risk: Mapped[str | None] = mapped_column(String(32))
    # 0..1 from the research evidence (agents/research/confidence.py); revised with the proposal.
    confidence: Mapped[float | None] = mapped_column(Float)
    # 1 when created; each re-run of research on the open proposal adds one (audited).
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # When research last ran for it: the worker's claim, and its rate limit.
    researched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    narrative: Mapped[str | None] = mapped_column(Text)
    alternatives: Mapped[list] = mapped_column(default=list)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    review_comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rollout_percent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ValidationResult(Base):
    __tablename__ = "validation_results"

    id: Mapped[uuid.UUID] = uuid_pk()
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("improvement_proposals.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(32), default="running")
    case_count: Mapped[int] = mapped_column(Integer, default=0)
    baseline_metrics: Mapped[dict] = mapped_column(default=dict)
    candidate_metrics: Mapped[dict] = mapped_column(default=dict)
    mcnemar_p_value: Mapped[float | None] = mapped_column(Float)
    score_delta_mean: Mapped[float | None] = mapped_column(Float)
    score_delta_ci_low: Mapped[float | None] = mapped_column(Float)
    score_delta_ci_high: Mapped[float | None] = mapped_column(Float)
    regressions: Mapped[list] = mapped_column(default=list)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    started_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImprovementImpact(Base):
    __tablename__ = "improvement_impact"

    id: Mapped[uuid.UUID] = uuid_pk()
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("improvement_proposals.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[str] = mapped_column(String(100))
    rollout_percent: Mapped[int] = mapped_column(Integer, default=100)
    before_value: Mapped[float | None] = mapped_column(Float)
    after_value: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    significant: Mapped[bool | None] = mapped_column(Boolean)
    roi_usd: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict] = mapped_column(default=dict)
    measured_at: Mapped[datetime] = created_at()


class AppConfig(Base):
    """Versioned configs of a target app; the active version is what `GET /api/v1/configs/{app}` serves."""

    __tablename__ = "app_configs"
    __table_args__ = (
        UniqueConstraint("project_id", "app", "version"),
        Index(
            "uq_app_configs_active",
            "project_id",
            "app",
            unique=True,
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    app: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    # During a rollout the candidate serves this share of traffic; the active config serves the rest.
    rollout_percent: Mapped[int] = mapped_column(Integer, default=0)
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("improvement_proposals.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
