"""Traces sent by LLM applications, and their child spans (retrieval, llm, tool...)."""

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from metamon.monitoring.db.base import Base, check_in, created_at, updated_at, uuid_pk

TRACE_STATUSES = ("ok", "error")
SPAN_KINDS = ("llm", "retrieval", "tool", "chain", "embedding", "agent", "other")


class Trace(Base):
    __tablename__ = "traces"
    __table_args__ = (
        # Client-supplied ids make ingest idempotent: re-sending one updates, never duplicates.
        UniqueConstraint("project_id", "external_id"),
        CheckConstraint(check_in("status", TRACE_STATUSES), name="status_known"),
        Index("ix_traces_project_timestamp", "project_id", "timestamp"),
        Index("ix_traces_project_app_model_timestamp", "project_id", "app", "model", "timestamp"),
        # The evaluation agent's work queue: traces stored or changed since they were last scored, per
        # project (each batch takes its share of every project's backlog, oldest first).
        Index(
            "ix_traces_unevaluated_project",
            "project_id",
            "timestamp",
            postgresql_where=text("evaluated_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    app: Mapped[str] = mapped_column(String(200), default="default")
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_version: Mapped[str | None] = mapped_column(String(100))
    domain: Mapped[str | None] = mapped_column(String(100))
    session_id: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    input: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str] = mapped_column(Text, default="")
    # [{"source_id": ..., "content": ..., "score": ...}]
    retrieved_context: Mapped[list] = mapped_column(default=list)
    # {"expected_answer": ..., "facts": [...]} when the application knows the right answer.
    reference: Mapped[dict | None] = mapped_column()
    output_schema: Mapped[dict | None] = mapped_column()
    latency_seconds: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="ok", index=True)
    error_type: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    # Guardrail verdicts reported by the application itself: [{"name": ..., "passed": ...}]
    guardrails: Mapped[list] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    metadata_: Mapped[dict] = mapped_column("metadata", default=dict)
    # Set when the usage counters have counted this trace (once, ever); cleared never.
    counted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the evaluation agent scored it; a re-sent or completed trace clears it to be scored again.
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    spans: Mapped[list["Span"]] = relationship(
        back_populates="trace", cascade="all, delete-orphan", order_by="Span.start_time"
    )


class Span(Base):
    __tablename__ = "spans"
    __table_args__ = (
        UniqueConstraint("trace_id", "span_id"),
        CheckConstraint(check_in("kind", SPAN_KINDS), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    trace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"))
    span_id: Mapped[str] = mapped_column(String(64))
    parent_span_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16), default="other")
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="ok")
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict] = mapped_column(default=dict)

    trace: Mapped[Trace] = relationship(back_populates="spans")
