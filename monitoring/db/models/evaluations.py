"""Per-trace evaluator scores, and evaluation runs that summarise a window."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
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
)
from sqlalchemy.orm import Mapped, mapped_column

from metamon.monitoring.db.base import Base, check_in, created_at, uuid_pk

EVALUATOR_KINDS = ("code", "embedding", "llm")


class TraceEvaluation(Base):
    __tablename__ = "trace_evaluations"
    __table_args__ = (
        # One score per trace and evaluator: re-scoring replaces, so evaluation is idempotent.
        UniqueConstraint("trace_id", "evaluator"),
        CheckConstraint(check_in("kind", EVALUATOR_KINDS), name="kind_known"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score_unit_interval"),
        Index("ix_trace_evaluations_project_evaluator_created", "project_id", "evaluator", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    trace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    evaluator: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(default=dict)
    # The evaluator raised on this trace ("RecursionError: ..."); score and passed are then NULL.
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class EvaluationRun(Base):
    """Window metrics for one project/app/model/domain; NULL scope columns mean 'all'."""

    __tablename__ = "evaluation_runs"
    __table_args__ = (
        Index("ix_evaluation_runs_scope_window", "project_id", "app", "model", "domain", "window_end"),
        # One run per scope and window: evaluating the same window again updates its run.
        Index(
            "uq_evaluation_runs_scope_window",
            "project_id",
            "app",
            "model",
            "domain",
            "window_start",
            "window_end",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    app: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(100))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trace_count: Mapped[int] = mapped_column(Integer, default=0)
    fact_accuracy: Mapped[float | None] = mapped_column(Float)
    guardrail_pass_rate: Mapped[float | None] = mapped_column(Float)
    sla_compliance: Mapped[float | None] = mapped_column(Float)
    error_rate: Mapped[float | None] = mapped_column(Float)
    cost_per_request_usd: Mapped[float | None] = mapped_column(Float)
    latency_p50_seconds: Mapped[float | None] = mapped_column(Float)
    latency_p95_seconds: Mapped[float | None] = mapped_column(Float)
    expert_agreement: Mapped[float | None] = mapped_column(Float)
    delta_previous: Mapped[dict] = mapped_column(default=dict)
    delta_baseline: Mapped[dict] = mapped_column(default=dict)
    # A pinned run serves as the baseline for its scope instead of the trailing 7 days.
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[str] = mapped_column(String(32), default="scheduled")
    created_at: Mapped[datetime] = created_at()
