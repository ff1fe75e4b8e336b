"""Expert review labels, and the golden dataset they grow."""

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from metamon.monitoring.db.base import Base, check_in, created_at, updated_at, uuid_pk

LABELS = ("pass", "fail", "needs_review")


class ReviewLabel(Base):
    __tablename__ = "review_labels"
    __table_args__ = (
        UniqueConstraint("trace_id", "reviewer"),
        CheckConstraint(check_in("label", LABELS), name="label_known"),
        CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence_unit_interval"),
        Index("ix_review_labels_project_label", "project_id", "label"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    trace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    label: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    notes: Mapped[str] = mapped_column(Text, default="")
    issue_categories: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class GoldenCase(Base):
    """A case the validation agent replays; shipped with metamon or promoted from an expert label."""

    __tablename__ = "golden_cases"
    __table_args__ = (
        UniqueConstraint("project_id", "case_key"),
        Index("ix_golden_cases_project_app", "project_id", "app"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    case_key: Mapped[str] = mapped_column(String(200))
    app: Mapped[str | None] = mapped_column(String(200))
    input: Mapped[str] = mapped_column(Text)
    retrieved_context: Mapped[list] = mapped_column(default=list)
    reference: Mapped[dict] = mapped_column(default=dict)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    source: Mapped[str] = mapped_column(String(32), default="shipped")
    source_trace_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("traces.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
